"""The human views of results, one module per command family (``lumidb.render`` finds them).

Each module maps result class names to the function that prints one for a person:
``views/backups.py`` for ``lumidb backup`` and ``lumidb backups``, ``views/migrate.py``
for ``lumidb migrate``, and so on. JSON needs no view: ``render.to_document`` makes it.
"""
