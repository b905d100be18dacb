"""The pages notify's links open in a phone's browser (HTML, no script):
the citizen's follow page (``/t/``, :mod:`.follow_page`) and feedback page
(``/f/``, :mod:`.feedback_page`), and the case summary a field agent's link
opens (``/a/``, :mod:`.agent_page`); what they share is
:mod:`.citizen_pages`."""
