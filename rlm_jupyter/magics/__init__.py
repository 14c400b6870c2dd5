"""The ``%%rlm`` / ``%rlm`` magics: :mod:`.rlm` (the magics class: settings, options, dispatch),
:mod:`.line` (the one parser of the ``%rlm`` line magic's subcommands),
:mod:`.prompt` (a prompt cell: its variables and images, the answer streamed), :mod:`.agent`
(``%%rlm --agent``) and :mod:`.trace` (``%rlm replay`` / ``export`` / ``diff``)."""
