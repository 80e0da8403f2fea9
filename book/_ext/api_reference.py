"""The ``companion-modules`` directive: the API reference of one ``companion`` package.

``book/api.md`` writes, for example::

    ```{companion-modules} companion.torch
    ```

and gets an ``automodule`` (with the members each module defines) for the
package and every module
inside it, found by walking the package. A module added to ``companion`` is
therefore documented without editing the page; private modules (a leading
underscore) and ``__main__`` entry points are left out.
"""
from __future__ import annotations

import importlib
import pkgutil

from docutils import nodes
from sphinx.util.docutils import SphinxDirective


def submodules(package: str, subpackages: bool = True) -> list[str]:
    """``package`` itself and every public module below it, sorted by name.

    With ``subpackages=False``, only the modules directly inside ``package``.
    """
    root = importlib.import_module(package)
    names = [package]
    if hasattr(root, "__path__"):
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            private = any(part.startswith("_") for part in info.name.split("."))
            nested = info.name.count(".") > package.count(".") + 1
            if private or (not subpackages and (info.ispkg or nested)):
                continue
            names.append(info.name)
    return sorted(names)


class CompanionModules(SphinxDirective):
    required_arguments = 1
    has_content = False
    option_spec = {"no-subpackages": lambda value: True}

    def run(self):
        names = submodules(self.arguments[0], subpackages="no-subpackages" not in self.options)
        # autodoc writes reStructuredText, so the directives go through eval-rst;
        # members are those defined in each module (not its re-exports), once each.
        text = "\n".join(f"```{{eval-rst}}\n.. automodule:: {name}\n   :members:\n"
                         f"   :ignore-module-all:\n```\n" for name in names)
        container = nodes.container(classes=["companion-api"])
        container.extend(self.parse_text_to_nodes(text))
        return [container]


def setup(app):
    app.add_directive("companion-modules", CompanionModules)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
