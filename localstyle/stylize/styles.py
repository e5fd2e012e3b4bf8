"""Which painting each selected instance gets (STYLE.IMAGE, STYLE.PER_CLASS, STYLE.PER_INSTANCE)."""
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.image_io import read_image


class StyleBook:
    """Which painting each selected instance gets: STYLE.PER_INSTANCE, else STYLE.PER_CLASS, else STYLE.IMAGE."""

    def __init__(self, cfg):
        self.default = cfg.STYLE.IMAGE
        self.per_instance = list(cfg.STYLE.PER_INSTANCE)
        self.per_class = {}
        for entry in cfg.STYLE.PER_CLASS:
            if not isinstance(entry, (list, tuple)) or len(entry) != 2:
                raise LocalstyleError(f"STYLE.PER_CLASS entries must be [class_name, style_image], got {entry!r}")
            self.per_class[entry[0]] = entry[1]
        if not (self.default or self.per_instance or self.per_class):
            raise LocalstyleError("no style image: set STYLE.IMAGE (or STYLE.PER_CLASS / STYLE.PER_INSTANCE)")
        if cfg.MASKS.INVERT and not self.default:
            raise LocalstyleError("MASKS.INVERT styles the background with STYLE.IMAGE: set STYLE.IMAGE")
        self._images = {}
        for path in self.paths():
            self.image(path)  # fail early on a missing painting

    def paths(self):
        """Every style image path the config names, default first."""
        return [p for p in [self.default, *self.per_instance, *self.per_class.values()] if p]

    def image(self, path):
        """The style image at ``path`` (RGB uint8), read once."""
        if path not in self._images:
            self._images[path] = read_image(path, "RGB")
        return self._images[path]

    def style_for(self, k, class_name):
        """Style path of the ``k``-th selected instance (of class ``class_name``)."""
        if self.per_instance:
            return self.per_instance[k % len(self.per_instance)]
        path = self.per_class.get(class_name, self.default)
        if not path:
            raise LocalstyleError(f"no style for class {class_name!r}: add it to STYLE.PER_CLASS or set STYLE.IMAGE")
        return path
