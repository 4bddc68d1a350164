"""One module a console page, each exposing ROUTES (Starlette routes)."""
