"""Signed PDF audit reports: render (Jinja2 + WeasyPrint), sign (pyHanko PAdES + minisign),
verify offline. See :mod:`.render`, :mod:`.signing` and :mod:`.verify`."""
