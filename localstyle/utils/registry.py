"""fvcore's ``Registry`` with an explicit-name ``register``, for registries keyed by config strings, and entries
whose module is imported on first use."""
import importlib

from fvcore.common.registry import Registry as _FvcoreRegistry


class Registry(_FvcoreRegistry):
    """fvcore ``Registry`` whose ``register`` also accepts ``name=`` (``@REGISTRY.register(name="gatys")``).

    ``modules`` (``{name: module}``) lists built-in entries that register themselves when their module is imported;
    :meth:`get` imports that module on first use, so building one entry does not import the others' dependencies
    (MMEngine's registries do the same with ``locations``).
    """

    def __init__(self, name, modules=None):
        super().__init__(name)
        self._modules = dict(modules or {})

    def register(self, obj=None, name=None):
        if obj is not None:
            return super().register(obj)

        def deco(cls):
            self._do_register(name or cls.__name__, cls)
            return cls

        return deco

    def __contains__(self, name):
        return super().__contains__(name) or name in self._modules

    def get(self, name):
        """The entry ``name``, importing its module first if it is a built-in not imported yet."""
        if not super().__contains__(name) and name in self._modules:
            importlib.import_module(self._modules[name])
        return super().get(name)

    def names(self):
        """Registered and built-in names, sorted."""
        return sorted({k for k, _ in self} | set(self._modules))

    def build(self, name, cfg, key):
        """``self.get(name)(cfg)``; an unknown ``name`` raises one line naming the config ``key``."""
        from localstyle.utils.errors import LocalstyleError

        if name not in self:
            what = self._name.lower().replace("_", " ")
            raise LocalstyleError(f"{key}: unknown {what} {name!r}; registered: {self.names()}")
        return self.get(name)(cfg)
