"""fvcore's ``Registry`` with an explicit-name ``register``, for registries keyed by config strings."""
from fvcore.common.registry import Registry as _FvcoreRegistry


class Registry(_FvcoreRegistry):
    """fvcore ``Registry`` whose ``register`` also accepts ``name=`` (``@REGISTRY.register(name="gatys")``)."""

    def register(self, obj=None, name=None):
        if obj is not None:
            return super().register(obj)

        def deco(cls):
            self._do_register(name or cls.__name__, cls)
            return cls

        return deco

    def names(self):
        """Registered names, sorted."""
        return sorted(k for k, _ in self)

    def build(self, name, cfg, key):
        """``self.get(name)(cfg)``; an unknown ``name`` raises one line naming the config ``key``."""
        from localstyle.utils.errors import LocalstyleError

        if name not in self:
            what = self._name.lower().replace("_", " ")
            raise LocalstyleError(f"{key}: unknown {what} {name!r}; registered: {self.names()}")
        return self.get(name)(cfg)
