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

class EstimateCollectionRequest(_message.Message):
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

class HashtagEstimate(_message.Message):
    __slots__ = ("hashtag", "counts_available", "posts_available", "posts_to_read", "search_requests", "counts_requests", "cost_usd", "note")
    HASHTAG_FIELD_NUMBER: _ClassVar[int]
    COUNTS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    POSTS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    POSTS_TO_READ_FIELD_NUMBER: _ClassVar[int]
    SEARCH_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    hashtag: str
    counts_available: bool
    posts_available: int
    posts_to_read: int
    search_requests: int
    counts_requests: int
    cost_usd: float
    note: str
    def __init__(self, hashtag: _Optional[str] = ..., counts_available: _Optional[bool] = ..., posts_available: _Optional[int] = ..., posts_to_read: _Optional[int] = ..., search_requests: _Optional[int] = ..., counts_requests: _Optional[int] = ..., cost_usd: _Optional[float] = ..., note: _Optional[str] = ...) -> None: ...

class CollectionEstimate(_message.Message):
    __slots__ = ("source", "hashtags", "posts_available", "posts_to_read", "api_requests", "cost_usd", "estimate_cost_usd", "spent_today_usd", "daily_budget_usd", "budget_left_usd", "message")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    HASHTAGS_FIELD_NUMBER: _ClassVar[int]
    POSTS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    POSTS_TO_READ_FIELD_NUMBER: _ClassVar[int]
    API_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    ESTIMATE_COST_USD_FIELD_NUMBER: _ClassVar[int]
    SPENT_TODAY_USD_FIELD_NUMBER: _ClassVar[int]
    DAILY_BUDGET_USD_FIELD_NUMBER: _ClassVar[int]
    BUDGET_LEFT_USD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    source: str
    hashtags: _containers.RepeatedCompositeFieldContainer[HashtagEstimate]
    posts_available: int
    posts_to_read: int
    api_requests: int
    cost_usd: float
    estimate_cost_usd: float
    spent_today_usd: float
    daily_budget_usd: float
    budget_left_usd: float
    message: str
    def __init__(self, source: _Optional[str] = ..., hashtags: _Optional[_Iterable[_Union[HashtagEstimate, _Mapping]]] = ..., posts_available: _Optional[int] = ..., posts_to_read: _Optional[int] = ..., api_requests: _Optional[int] = ..., cost_usd: _Optional[float] = ..., estimate_cost_usd: _Optional[float] = ..., spent_today_usd: _Optional[float] = ..., daily_budget_usd: _Optional[float] = ..., budget_left_usd: _Optional[float] = ..., message: _Optional[str] = ...) -> None: ...

class DeletePostsRequest(_message.Message):
    __slots__ = ("source", "post_ids", "author_id")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    POST_IDS_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    source: str
    post_ids: _containers.RepeatedScalarFieldContainer[str]
    author_id: str
    def __init__(self, source: _Optional[str] = ..., post_ids: _Optional[_Iterable[str]] = ..., author_id: _Optional[str] = ...) -> None: ...

class DeletePostsResponse(_message.Message):
    __slots__ = ("posts_deleted", "hashtag_links_deleted", "users_deleted")
    POSTS_DELETED_FIELD_NUMBER: _ClassVar[int]
    HASHTAG_LINKS_DELETED_FIELD_NUMBER: _ClassVar[int]
    USERS_DELETED_FIELD_NUMBER: _ClassVar[int]
    posts_deleted: int
    hashtag_links_deleted: int
    users_deleted: int
    def __init__(self, posts_deleted: _Optional[int] = ..., hashtag_links_deleted: _Optional[int] = ..., users_deleted: _Optional[int] = ...) -> None: ...

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
