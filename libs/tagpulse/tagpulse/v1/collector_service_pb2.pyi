from google.api import annotations_pb2 as _annotations_pb2
from tagpulse.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StartCollectionRequest(_message.Message):
    __slots__ = ("hashtags", "max_posts_per_hashtag", "source", "max_cost_usd")
    HASHTAGS_FIELD_NUMBER: _ClassVar[int]
    MAX_POSTS_PER_HASHTAG_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_USD_FIELD_NUMBER: _ClassVar[int]
    hashtags: _containers.RepeatedScalarFieldContainer[str]
    max_posts_per_hashtag: int
    source: str
    max_cost_usd: float
    def __init__(self, hashtags: _Optional[_Iterable[str]] = ..., max_posts_per_hashtag: _Optional[int] = ..., source: _Optional[str] = ..., max_cost_usd: _Optional[float] = ...) -> None: ...

class GetCollectionRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListCollectionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCollectionsResponse(_message.Message):
    __slots__ = ("collections", "next_page_token")
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    collections: _containers.RepeatedCompositeFieldContainer[_resources_pb2.CollectionRun]
    next_page_token: str
    def __init__(self, collections: _Optional[_Iterable[_Union[_resources_pb2.CollectionRun, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateStreamRequest(_message.Message):
    __slots__ = ("rules", "source")
    RULES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[_resources_pb2.StreamRule]
    source: str
    def __init__(self, rules: _Optional[_Iterable[_Union[_resources_pb2.StreamRule, _Mapping]]] = ..., source: _Optional[str] = ...) -> None: ...

class GetStreamRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListStreamsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListStreamsResponse(_message.Message):
    __slots__ = ("streams", "next_page_token")
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    streams: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Stream]
    next_page_token: str
    def __init__(self, streams: _Optional[_Iterable[_Union[_resources_pb2.Stream, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteStreamRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...
