"""The protocol's variants, one module each, found by ``protocol.registry``.

Adding a variant is adding a module here (and its costs, if any, to the model).
"""
