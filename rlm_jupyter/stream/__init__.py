"""The live answer widget: :mod:`.feed` (chunks in, frames out), :mod:`.view` (the anywidget,
``static/stream.js`` and ``static/stream.css``), :mod:`.plain` (its stdout stand-in) and
:mod:`.display` (``display_stream``: which of the two, foreground or background)."""
