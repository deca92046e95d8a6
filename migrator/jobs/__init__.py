"""The jobs that connect sources to targets: :mod:`.plan` decides, :mod:`.snapshot` copies."""
