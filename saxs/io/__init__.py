"""Readers and writers. The only place in ``saxs`` that imports fabio and h5py."""
