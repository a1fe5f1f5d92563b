import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Post(_message.Message):
    __slots__ = ("id", "source", "author_id", "author_username", "text", "language", "create_time", "country_code", "hashtags")
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_USERNAME_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_CODE_FIELD_NUMBER: _ClassVar[int]
    HASHTAGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    source: str
    author_id: str
    author_username: str
    text: str
    language: str
    create_time: _timestamp_pb2.Timestamp
    country_code: str
    hashtags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., source: _Optional[str] = ..., author_id: _Optional[str] = ..., author_username: _Optional[str] = ..., text: _Optional[str] = ..., language: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., country_code: _Optional[str] = ..., hashtags: _Optional[_Iterable[str]] = ...) -> None: ...

class User(_message.Message):
    __slots__ = ("id", "source", "username", "display_name", "followers_count", "location", "country_code", "post_count")
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    FOLLOWERS_COUNT_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_CODE_FIELD_NUMBER: _ClassVar[int]
    POST_COUNT_FIELD_NUMBER: _ClassVar[int]
    id: str
    source: str
    username: str
    display_name: str
    followers_count: int
    location: str
    country_code: str
    post_count: int
    def __init__(self, id: _Optional[str] = ..., source: _Optional[str] = ..., username: _Optional[str] = ..., display_name: _Optional[str] = ..., followers_count: _Optional[int] = ..., location: _Optional[str] = ..., country_code: _Optional[str] = ..., post_count: _Optional[int] = ...) -> None: ...

class Hashtag(_message.Message):
    __slots__ = ("name", "tracked", "post_count", "last_collect_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TRACKED_FIELD_NUMBER: _ClassVar[int]
    POST_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_COLLECT_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    tracked: bool
    post_count: int
    last_collect_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., tracked: _Optional[bool] = ..., post_count: _Optional[int] = ..., last_collect_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CollectionFigures(_message.Message):
    __slots__ = ("posts_fetched", "posts_new", "posts_duplicate", "api_requests", "errors", "pages", "posts_billed", "users_billed", "counts_requests", "cost_usd")
    POSTS_FETCHED_FIELD_NUMBER: _ClassVar[int]
    POSTS_NEW_FIELD_NUMBER: _ClassVar[int]
    POSTS_DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    API_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    POSTS_BILLED_FIELD_NUMBER: _ClassVar[int]
    USERS_BILLED_FIELD_NUMBER: _ClassVar[int]
    COUNTS_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    posts_fetched: int
    posts_new: int
    posts_duplicate: int
    api_requests: int
    errors: int
    pages: int
    posts_billed: int
    users_billed: int
    counts_requests: int
    cost_usd: float
    def __init__(self, posts_fetched: _Optional[int] = ..., posts_new: _Optional[int] = ..., posts_duplicate: _Optional[int] = ..., api_requests: _Optional[int] = ..., errors: _Optional[int] = ..., pages: _Optional[int] = ..., posts_billed: _Optional[int] = ..., users_billed: _Optional[int] = ..., counts_requests: _Optional[int] = ..., cost_usd: _Optional[float] = ...) -> None: ...

class HashtagCollectionFigures(_message.Message):
    __slots__ = ("hashtag", "figures", "error_message", "state", "start_time", "end_time")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[HashtagCollectionFigures.State]
        PENDING: _ClassVar[HashtagCollectionFigures.State]
        RUNNING: _ClassVar[HashtagCollectionFigures.State]
        SUCCEEDED: _ClassVar[HashtagCollectionFigures.State]
        FAILED: _ClassVar[HashtagCollectionFigures.State]
        SKIPPED: _ClassVar[HashtagCollectionFigures.State]
        STOPPED_BY_BUDGET: _ClassVar[HashtagCollectionFigures.State]
    STATE_UNSPECIFIED: HashtagCollectionFigures.State
    PENDING: HashtagCollectionFigures.State
    RUNNING: HashtagCollectionFigures.State
    SUCCEEDED: HashtagCollectionFigures.State
    FAILED: HashtagCollectionFigures.State
    SKIPPED: HashtagCollectionFigures.State
    STOPPED_BY_BUDGET: HashtagCollectionFigures.State
    HASHTAG_FIELD_NUMBER: _ClassVar[int]
    FIGURES_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    hashtag: str
    figures: CollectionFigures
    error_message: str
    state: HashtagCollectionFigures.State
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, hashtag: _Optional[str] = ..., figures: _Optional[_Union[CollectionFigures, _Mapping]] = ..., error_message: _Optional[str] = ..., state: _Optional[_Union[HashtagCollectionFigures.State, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CollectionRun(_message.Message):
    __slots__ = ("id", "source", "hashtags", "max_posts_per_hashtag", "state", "start_time", "end_time", "figures", "hashtag_figures", "error_message", "resume_count", "max_cost_usd")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[CollectionRun.State]
        RUNNING: _ClassVar[CollectionRun.State]
        SUCCEEDED: _ClassVar[CollectionRun.State]
        PARTIALLY_SUCCEEDED: _ClassVar[CollectionRun.State]
        FAILED: _ClassVar[CollectionRun.State]
        STOPPED_BY_BUDGET: _ClassVar[CollectionRun.State]
    STATE_UNSPECIFIED: CollectionRun.State
    RUNNING: CollectionRun.State
    SUCCEEDED: CollectionRun.State
    PARTIALLY_SUCCEEDED: CollectionRun.State
    FAILED: CollectionRun.State
    STOPPED_BY_BUDGET: CollectionRun.State
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    HASHTAGS_FIELD_NUMBER: _ClassVar[int]
    MAX_POSTS_PER_HASHTAG_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    FIGURES_FIELD_NUMBER: _ClassVar[int]
    HASHTAG_FIGURES_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RESUME_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_USD_FIELD_NUMBER: _ClassVar[int]
    id: str
    source: str
    hashtags: _containers.RepeatedScalarFieldContainer[str]
    max_posts_per_hashtag: int
    state: CollectionRun.State
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    figures: CollectionFigures
    hashtag_figures: _containers.RepeatedCompositeFieldContainer[HashtagCollectionFigures]
    error_message: str
    resume_count: int
    max_cost_usd: float
    def __init__(self, id: _Optional[str] = ..., source: _Optional[str] = ..., hashtags: _Optional[_Iterable[str]] = ..., max_posts_per_hashtag: _Optional[int] = ..., state: _Optional[_Union[CollectionRun.State, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., figures: _Optional[_Union[CollectionFigures, _Mapping]] = ..., hashtag_figures: _Optional[_Iterable[_Union[HashtagCollectionFigures, _Mapping]]] = ..., error_message: _Optional[str] = ..., resume_count: _Optional[int] = ..., max_cost_usd: _Optional[float] = ...) -> None: ...

class StreamRule(_message.Message):
    __slots__ = ("value", "tag")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    value: str
    tag: str
    def __init__(self, value: _Optional[str] = ..., tag: _Optional[str] = ...) -> None: ...

class KeyCount(_message.Message):
    __slots__ = ("key", "count")
    KEY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    key: str
    count: int
    def __init__(self, key: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class StreamDeadLetter(_message.Message):
    __slots__ = ("message_id", "error", "attempts", "time")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    error: str
    attempts: int
    time: _timestamp_pb2.Timestamp
    def __init__(self, message_id: _Optional[str] = ..., error: _Optional[str] = ..., attempts: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Stream(_message.Message):
    __slots__ = ("id", "source", "rules", "state", "start_time", "stop_time", "posts_received", "posts_matched", "posts_duplicate", "posts_unique", "counts_by_rule", "counts_by_language", "counts_by_country", "last_error", "posts_new", "messages_buffered", "messages_dead_lettered", "dead_letters", "posts_deleted")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Stream.State]
        RUNNING: _ClassVar[Stream.State]
        STOPPED: _ClassVar[Stream.State]
        FAILED: _ClassVar[Stream.State]
        STOPPING: _ClassVar[Stream.State]
    STATE_UNSPECIFIED: Stream.State
    RUNNING: Stream.State
    STOPPED: Stream.State
    FAILED: Stream.State
    STOPPING: Stream.State
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    STOP_TIME_FIELD_NUMBER: _ClassVar[int]
    POSTS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    POSTS_MATCHED_FIELD_NUMBER: _ClassVar[int]
    POSTS_DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    POSTS_UNIQUE_FIELD_NUMBER: _ClassVar[int]
    COUNTS_BY_RULE_FIELD_NUMBER: _ClassVar[int]
    COUNTS_BY_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    COUNTS_BY_COUNTRY_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    POSTS_NEW_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_BUFFERED_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_DEAD_LETTERED_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    POSTS_DELETED_FIELD_NUMBER: _ClassVar[int]
    id: str
    source: str
    rules: _containers.RepeatedCompositeFieldContainer[StreamRule]
    state: Stream.State
    start_time: _timestamp_pb2.Timestamp
    stop_time: _timestamp_pb2.Timestamp
    posts_received: int
    posts_matched: int
    posts_duplicate: int
    posts_unique: int
    counts_by_rule: _containers.RepeatedCompositeFieldContainer[KeyCount]
    counts_by_language: _containers.RepeatedCompositeFieldContainer[KeyCount]
    counts_by_country: _containers.RepeatedCompositeFieldContainer[KeyCount]
    last_error: str
    posts_new: int
    messages_buffered: int
    messages_dead_lettered: int
    dead_letters: _containers.RepeatedCompositeFieldContainer[StreamDeadLetter]
    posts_deleted: int
    def __init__(self, id: _Optional[str] = ..., source: _Optional[str] = ..., rules: _Optional[_Iterable[_Union[StreamRule, _Mapping]]] = ..., state: _Optional[_Union[Stream.State, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stop_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., posts_received: _Optional[int] = ..., posts_matched: _Optional[int] = ..., posts_duplicate: _Optional[int] = ..., posts_unique: _Optional[int] = ..., counts_by_rule: _Optional[_Iterable[_Union[KeyCount, _Mapping]]] = ..., counts_by_language: _Optional[_Iterable[_Union[KeyCount, _Mapping]]] = ..., counts_by_country: _Optional[_Iterable[_Union[KeyCount, _Mapping]]] = ..., last_error: _Optional[str] = ..., posts_new: _Optional[int] = ..., messages_buffered: _Optional[int] = ..., messages_dead_lettered: _Optional[int] = ..., dead_letters: _Optional[_Iterable[_Union[StreamDeadLetter, _Mapping]]] = ..., posts_deleted: _Optional[int] = ...) -> None: ...
