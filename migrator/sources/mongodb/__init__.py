"""A MongoDB collection as a source: ``source.type: mongodb``.

:mod:`.backend` describes the collection, pins the cluster time and opens the change stream (driver);
:mod:`.spec` reads ``_id`` ranges as raw BSON (executors), cut by :mod:`.ranges`; :mod:`.change_stream` is the
``mongodb-changestreams`` Spark streaming source. Importing :mod:`.backend` needs pymongo (the ``mongodb`` extra).
"""
