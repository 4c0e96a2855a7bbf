"""The catalogue as a service: what each REST request does, framework-free.

Both servers use it: the Jupyter server extension (``jupyter_ext``) and the lab
server ``voxcat serve``. :mod:`.api` answers searches, facets, datasets and
annotations; :mod:`.images` renders thumbnails and slices; :mod:`.params` parses
query strings and bodies; :mod:`.jobs`, :mod:`.tasks` and :mod:`.child` run scans,
exports and previews in child processes; :mod:`.paths` keeps jobs inside the folders
they may use; :mod:`.status` maps errors to HTTP statuses. Nothing here imports a web
framework or Jupyter.
"""
