"""The catalogue as a service: what each REST request does, framework-free.

Both servers use it: the Jupyter server extension (``jupyter_ext``) and the lab
server ``voxcat serve``. :mod:`.api` answers searches, facets, datasets and
annotations; :mod:`.images` renders thumbnails and slices; :mod:`.params` parses
query strings and bodies; :mod:`.jobs`, :mod:`.tasks` and :mod:`.child` run scans,
exports and previews in child processes; :mod:`.paths` keeps jobs inside the folders
they may use; :mod:`.status` maps errors to HTTP statuses. :mod:`.rest` is the one
REST route table of both servers (tornado handler mixins), :mod:`.auth` logs accounts
in and :mod:`.server` is ``voxcat serve`` (Panel's server, imported when it runs).
Nothing here imports Jupyter; Panel and Bokeh load only when ``voxcat serve`` starts.
"""
