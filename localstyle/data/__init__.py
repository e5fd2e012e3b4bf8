"""Datasets: registry, COCO loading, the person subset, synthetic data, transforms and loaders."""
