"""What keeps any live view going, whatever it shows: frame pacing (:mod:`.pacing`), the drive
loops (:mod:`.drive`), showing and settling a display (:mod:`.show`), Stop from any thread
(:mod:`.stop`), the saved-mid-stream copy (:mod:`.snapshots`), errors as one line (:mod:`.errors`),
thread hand-offs (:mod:`.handoff`) and the one module that touches ipykernel's internals
(:mod:`._ipykernel`). Nothing here knows what a stream or a timeline draws."""
