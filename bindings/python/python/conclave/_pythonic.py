"""Makes the generated uniffi classes safe and Pythonic.

uniffi (0.32) generates, for Python:

- objects that hold a native handle: ``copy.copy`` or ``pickle`` would duplicate the handle and
  free it twice (a crash). They now refuse with a ``TypeError`` saying what to do instead;
- records decorated ``@dataclass`` with a hand-written ``__init__`` and no annotations, so
  ``dataclasses.fields``, ``asdict``, ``replace`` and ``repr`` saw no fields (``replace`` silently
  reset every field to its default). The fields are now real dataclass fields;
- enum variants without fields as classes, so ``dest == Destination.ALL`` compared an instance
  with a class and was always ``False``. Such a variant now equals its class;
- exceptions whose ``str()`` lists the fields. ``str(e)`` is now the human sentence
  (``e.describe()``) and ``repr(e)`` keeps the fields.
"""

import dataclasses
import inspect
import types
import typing


def _refuse(what: str):
    def refuse(self, *args, **kwargs):
        raise TypeError(
            f"conclave.{type(self).__name__} wraps a native object and cannot be {what}: share "
            "the same object instead (it is thread-safe)"
            + (
                "; to move an identity, use export_secret() and Identity.from_secret()"
                if type(self).__name__ == "Identity"
                else ""
            )
        )

    return refuse


def _is_object(cls) -> bool:
    return "_uniffi_clone_handle" in cls.__dict__


def _protect_object(cls) -> None:
    cls.__copy__ = _refuse("copied")
    cls.__deepcopy__ = _refuse("copied")
    cls.__reduce__ = _refuse("pickled")
    cls.__reduce_ex__ = _refuse("pickled")
    cls.__getstate__ = _refuse("pickled")
    cls.__setstate__ = _refuse("unpickled")


def _init_fields(cls) -> typing.List[typing.Tuple[str, object]]:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [
        (p.name, p.annotation if p.annotation is not inspect.Parameter.empty else typing.Any)
        for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def _redo_dataclass(cls) -> None:
    """Rebuilds the dataclass machinery of a generated record from its ``__init__``."""
    fields = _init_fields(cls)
    for name in ("__repr__", "__eq__", "__dataclass_fields__", "__dataclass_params__"):
        if name in cls.__dict__:
            delattr(cls, name)
    cls.__annotations__ = dict(fields)
    dataclasses.dataclass(cls, init=False, repr=True, eq=True)


def _is_record(cls) -> bool:
    return (
        dataclasses.is_dataclass(cls)
        and "__init__" in cls.__dict__
        and not dataclasses.fields(cls)
        and bool(_init_fields(cls))
    )


def _variants(enum_cls):
    for name, v in list(vars(enum_cls).items()):
        if isinstance(v, type) and v is not enum_cls and issubclass(v, enum_cls):
            yield name, v


def _fix_tagged_enum(enum_cls) -> None:
    for _, variant in _variants(enum_cls):
        base = variant.__bases__[0]  # the @dataclass class of the variant
        if _is_record(base):
            _redo_dataclass(base)
        elif not _init_fields(base):
            _make_unit_variant(variant)


def _make_unit_variant(variant) -> None:
    """A variant without fields equals its instances and its class (``Destination.ALL``)."""

    def __eq__(self, other):
        return other is variant or type(other) is type(self)

    variant.__eq__ = __eq__
    variant.__hash__ = lambda self: hash(variant)


def _fix_error(error_cls) -> None:
    for _, variant in _variants(error_cls):
        if not issubclass(variant, BaseException) or not hasattr(variant, "describe"):
            continue
        name = f"{error_cls.__name__}.{variant.__name__}"

        def __str__(self):
            return self.describe()

        def __repr__(self, name=name):
            fields = self.args[0] if self.args else ""
            return f"{name}({fields})"

        variant.__str__ = __str__
        variant.__repr__ = __repr__


def make_pythonic(module: types.ModuleType) -> None:
    """Applies the fixes above to every class of the generated module (once)."""
    if getattr(module, "_conclave_pythonic", False):
        return
    for name in getattr(module, "__all__", []):
        cls = getattr(module, name, None)
        if not isinstance(cls, type):
            continue
        if _is_object(cls):
            _protect_object(cls)
        elif _is_record(cls):
            _redo_dataclass(cls)
        elif issubclass(cls, BaseException) or name.endswith("Error"):
            _fix_error(cls)
        elif any(True for _ in _variants(cls)):
            _fix_tagged_enum(cls)
    module._conclave_pythonic = True
