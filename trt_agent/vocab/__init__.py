"""The project's vocabulary, one home for each kind of knowledge every other part reads: event
types and their keys (``events``), severities (``severities``) and how TensorRT layer names are
taken apart (``names``)."""
