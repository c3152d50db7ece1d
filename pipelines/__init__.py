"""The batch layer: the ``saxs`` command, beamtime discovery, configuration, reports."""
