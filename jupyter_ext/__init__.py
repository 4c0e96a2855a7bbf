"""JupyterLab integration of voxcat: a Jupyter server extension (REST under
``/voxcat/api/``) and the JupyterLab sidebar; builds on :mod:`catalog` and
:mod:`widgets`. The endpoints and front end arrive with the JupyterLab issue.
"""

from .errors import ExtensionError

__all__ = ["ExtensionError"]
