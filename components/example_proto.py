"""``tf.train.Example`` without importing TensorFlow: the same messages and wire format, built
from a descriptor in a private pool. Beam workers that only encode or decode examples (ExampleGen,
StatisticsGen, Transform) then start in a second instead of paying TensorFlow's import.

Example:
    >>> ex = Example()
    >>> ex.features.feature["feature/x"].float_list.value.append(1.5)
    >>> Example.FromString(ex.SerializeToString()).features.feature["feature/x"].float_list.value[0]
    1.5
"""
from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto


def _message(file, name: str, fields, nested=(), oneof=None):
    msg = file.message_type.add(name=name) if file is not None else descriptor_pb2.DescriptorProto(name=name)
    for number, (field_name, kind, label, type_name) in enumerate(fields, 1):
        field = msg.field.add(name=field_name, number=number, type=kind, label=label)
        if type_name:
            field.type_name = type_name
        if oneof is not None:
            field.oneof_index = 0
    if oneof is not None:
        msg.oneof_decl.add(name=oneof)
    for sub in nested:
        msg.nested_type.add().CopyFrom(sub)
    return msg


def _file() -> descriptor_pb2.FileDescriptorProto:
    """tensorflow/core/example/{feature,example}.proto, as one proto3 file."""
    file = descriptor_pb2.FileDescriptorProto(name="seqline/tf_example.proto", package="tensorflow",
                                              syntax="proto3")
    rep, opt = _F.LABEL_REPEATED, _F.LABEL_OPTIONAL
    _message(file, "BytesList", [("value", _F.TYPE_BYTES, rep, None)])
    for name, kind in (("FloatList", _F.TYPE_FLOAT), ("Int64List", _F.TYPE_INT64)):
        msg = _message(file, name, [("value", kind, rep, None)])
        msg.field[0].options.packed = True
    _message(file, "Feature", [("bytes_list", _F.TYPE_MESSAGE, opt, ".tensorflow.BytesList"),
                               ("float_list", _F.TYPE_MESSAGE, opt, ".tensorflow.FloatList"),
                               ("int64_list", _F.TYPE_MESSAGE, opt, ".tensorflow.Int64List")],
             oneof="kind")
    entry = _message(None, "FeatureEntry", [("key", _F.TYPE_STRING, opt, None),
                                            ("value", _F.TYPE_MESSAGE, opt, ".tensorflow.Feature")])
    entry.options.map_entry = True
    _message(file, "Features", [("feature", _F.TYPE_MESSAGE, rep, ".tensorflow.Features.FeatureEntry")],
             nested=[entry])
    _message(file, "Example", [("features", _F.TYPE_MESSAGE, opt, ".tensorflow.Features")])
    return file


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file())
Example = message_factory.GetMessageClass(_POOL.FindMessageTypeByName("tensorflow.Example"))
