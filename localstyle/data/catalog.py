"""detectron2-style registries: :data:`DatasetCatalog` (name -> loader), :data:`MetadataCatalog` (name -> metadata)."""
from localstyle.utils.errors import LocalstyleError


class _DatasetCatalog:
    """Maps a dataset name to a zero-argument function returning its list of dataset dicts.

    Loaders are called lazily by :meth:`get`, so registering a dataset whose files do not exist yet is fine;
    the loader's error (naming the missing file) only surfaces when the dataset is used.
    """

    def __init__(self):
        self._loaders = {}

    def register(self, name, func):
        """Register ``func`` (callable returning ``list[dict]``) under ``name``; a name can be registered once."""
        if not callable(func):
            raise LocalstyleError(f"dataset {name!r}: the loader must be callable, got {type(func).__name__}")
        if name in self._loaders:
            raise LocalstyleError(f"dataset {name!r} is already registered")
        self._loaders[name] = func

    def get(self, name):
        """Call the loader registered under ``name`` and return its dataset dicts."""
        if name not in self._loaders:
            known = ", ".join(sorted(self._loaders)) or "none"
            raise LocalstyleError(f"dataset {name!r} is not registered (registered: {known})")
        return self._loaders[name]()

    def list(self):
        """Names of all registered datasets."""
        return list(self._loaders)

    def remove(self, name):
        """Forget ``name`` (and nothing else; its metadata stays in :data:`MetadataCatalog`)."""
        self._loaders.pop(name)

    def __contains__(self, name):
        return name in self._loaders


class Metadata:
    """Attribute bag for one dataset (``thing_classes``, ``json_file``, ``image_root``, ``evaluator_type``, ...).

    As in detectron2, an attribute can be set again only to an equal value.
    """

    def __init__(self, name):
        object.__setattr__(self, "name", name)

    def __getattr__(self, key):
        raise AttributeError(f"metadata of dataset {self.name!r} has no attribute {key!r}; "
                             f"available: {sorted(self.__dict__)}")

    def __setattr__(self, key, value):
        if key in self.__dict__ and self.__dict__[key] != value:
            raise LocalstyleError(f"metadata {key!r} of dataset {self.name!r} is already set to "
                                  f"{self.__dict__[key]!r}; refusing to change it to {value!r}")
        object.__setattr__(self, key, value)

    def set(self, **kwargs):
        """Set several attributes; returns ``self``."""
        for k, v in kwargs.items():
            setattr(self, k, v)
        return self

    def reset(self, **kwargs):
        """Overwrite attributes (for built-in datasets whose paths are resolved again at load time)."""
        self.__dict__.update(kwargs)
        return self

    def get(self, key, default=None):
        """The attribute ``key``, or ``default`` if it is not set."""
        return self.__dict__.get(key, default)


class _MetadataCatalog:
    """Maps a dataset name to its :class:`Metadata`, created empty on first access."""

    def __init__(self):
        self._metadata = {}

    def get(self, name):
        """The :class:`Metadata` of ``name`` (created if needed)."""
        if name not in self._metadata:
            self._metadata[name] = Metadata(name)
        return self._metadata[name]

    def list(self):
        """Names that have metadata."""
        return list(self._metadata)

    def remove(self, name):
        """Forget the metadata of ``name``."""
        self._metadata.pop(name)


DatasetCatalog = _DatasetCatalog()
MetadataCatalog = _MetadataCatalog()
