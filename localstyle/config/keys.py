"""Full config keys (``"MODEL.ROI_HEADS.NUM_CLASSES"``) on a config or its plain-dict copy."""


def lookup(node, full_key):
    """The value at ``full_key`` in ``node``."""
    for part in full_key.split("."):
        node = node[part]
    return node


def pop_keys(node, full_keys):
    """Remove each of ``full_keys`` from ``node`` in place (a key that is not there is skipped)."""
    for full_key in full_keys:
        parent, _, leaf = full_key.rpartition(".")
        (lookup(node, parent) if parent else node).pop(leaf, None)
    return node
