"""The agent timeline: :mod:`.model` (events folded into steps, rows and page operations, sans-IO),
:mod:`.feed` (operations paced into frames), :mod:`.approvals` (Approve / Deny), :mod:`.view`
(the anywidget, ``static/timeline.js`` and ``static/timeline.css``), :mod:`.plain` (its stdout
stand-in), :mod:`.html` (its static twin) and :mod:`.display` (``display_agent``)."""
