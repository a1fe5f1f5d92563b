import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tagpulse.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListTopUsersRequest(_message.Message):
    __slots__ = ("limit", "hashtag")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    HASHTAG_FIELD_NUMBER: _ClassVar[int]
    limit: int
    hashtag: str
    def __init__(self, limit: _Optional[int] = ..., hashtag: _Optional[str] = ...) -> None: ...

class ListTopUsersResponse(_message.Message):
    __slots__ = ("users",)
    USERS_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[_resources_pb2.User]
    def __init__(self, users: _Optional[_Iterable[_Union[_resources_pb2.User, _Mapping]]] = ...) -> None: ...

class CountPostsByHourRequest(_message.Message):
    __slots__ = ("mode", "time_zone", "hashtag", "start_time", "end_time")
    class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        MODE_UNSPECIFIED: _ClassVar[CountPostsByHourRequest.Mode]
        HOUR_OF_DAY: _ClassVar[CountPostsByHourRequest.Mode]
        TIMELINE: _ClassVar[CountPostsByHourRequest.Mode]
    MODE_UNSPECIFIED: CountPostsByHourRequest.Mode
    HOUR_OF_DAY: CountPostsByHourRequest.Mode
    TIMELINE: CountPostsByHourRequest.Mode
    MODE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    HASHTAG_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    mode: CountPostsByHourRequest.Mode
    time_zone: str
    hashtag: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, mode: _Optional[_Union[CountPostsByHourRequest.Mode, str]] = ..., time_zone: _Optional[str] = ..., hashtag: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class HourCount(_message.Message):
    __slots__ = ("hour_of_day", "hour_start_time", "local_hour_start", "post_count")
    HOUR_OF_DAY_FIELD_NUMBER: _ClassVar[int]
    HOUR_START_TIME_FIELD_NUMBER: _ClassVar[int]
    LOCAL_HOUR_START_FIELD_NUMBER: _ClassVar[int]
    POST_COUNT_FIELD_NUMBER: _ClassVar[int]
    hour_of_day: int
    hour_start_time: _timestamp_pb2.Timestamp
    local_hour_start: str
    post_count: int
    def __init__(self, hour_of_day: _Optional[int] = ..., hour_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., local_hour_start: _Optional[str] = ..., post_count: _Optional[int] = ...) -> None: ...

class CountPostsByHourResponse(_message.Message):
    __slots__ = ("mode", "time_zone", "hours", "total_posts")
    MODE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    HOURS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_POSTS_FIELD_NUMBER: _ClassVar[int]
    mode: CountPostsByHourRequest.Mode
    time_zone: str
    hours: _containers.RepeatedCompositeFieldContainer[HourCount]
    total_posts: int
    def __init__(self, mode: _Optional[_Union[CountPostsByHourRequest.Mode, str]] = ..., time_zone: _Optional[str] = ..., hours: _Optional[_Iterable[_Union[HourCount, _Mapping]]] = ..., total_posts: _Optional[int] = ...) -> None: ...

class CountPostsByHashtagRequest(_message.Message):
    __slots__ = ("hashtag", "language", "country_code", "order_by", "page_size", "page_token")
    HASHTAG_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_CODE_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    hashtag: str
    language: str
    country_code: str
    order_by: str
    page_size: int
    page_token: str
    def __init__(self, hashtag: _Optional[str] = ..., language: _Optional[str] = ..., country_code: _Optional[str] = ..., order_by: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class HashtagLanguageCountryCount(_message.Message):
    __slots__ = ("hashtag", "language", "country_code", "post_count")
    HASHTAG_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_CODE_FIELD_NUMBER: _ClassVar[int]
    POST_COUNT_FIELD_NUMBER: _ClassVar[int]
    hashtag: str
    language: str
    country_code: str
    post_count: int
    def __init__(self, hashtag: _Optional[str] = ..., language: _Optional[str] = ..., country_code: _Optional[str] = ..., post_count: _Optional[int] = ...) -> None: ...

class CountPostsByHashtagResponse(_message.Message):
    __slots__ = ("counts", "next_page_token", "total_size", "total_posts")
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_POSTS_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.RepeatedCompositeFieldContainer[HashtagLanguageCountryCount]
    next_page_token: str
    total_size: int
    total_posts: int
    def __init__(self, counts: _Optional[_Iterable[_Union[HashtagLanguageCountryCount, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ..., total_posts: _Optional[int] = ...) -> None: ...

class ListPostsRequest(_message.Message):
    __slots__ = ("hashtag", "language", "author_id", "country_code", "start_time", "end_time", "page_size", "page_token")
    HASHTAG_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_CODE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    hashtag: str
    language: str
    author_id: str
    country_code: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, hashtag: _Optional[str] = ..., language: _Optional[str] = ..., author_id: _Optional[str] = ..., country_code: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPostsResponse(_message.Message):
    __slots__ = ("posts", "next_page_token")
    POSTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    posts: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Post]
    next_page_token: str
    def __init__(self, posts: _Optional[_Iterable[_Union[_resources_pb2.Post, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetPostRequest(_message.Message):
    __slots__ = ("id", "source")
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    source: str
    def __init__(self, id: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class ListUsersRequest(_message.Message):
    __slots__ = ("order_by", "page_size", "page_token")
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    order_by: str
    page_size: int
    page_token: str
    def __init__(self, order_by: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListUsersResponse(_message.Message):
    __slots__ = ("users", "next_page_token")
    USERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[_resources_pb2.User]
    next_page_token: str
    def __init__(self, users: _Optional[_Iterable[_Union[_resources_pb2.User, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListHashtagsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListHashtagsResponse(_message.Message):
    __slots__ = ("hashtags", "next_page_token")
    HASHTAGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    hashtags: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Hashtag]
    next_page_token: str
    def __init__(self, hashtags: _Optional[_Iterable[_Union[_resources_pb2.Hashtag, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetHashtagCoverageRequest(_message.Message):
    __slots__ = ("hashtag", "time_zone")
    HASHTAG_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    hashtag: str
    time_zone: str
    def __init__(self, hashtag: _Optional[str] = ..., time_zone: _Optional[str] = ...) -> None: ...

class CoverageHour(_message.Message):
    __slots__ = ("start_time", "end_time", "local_start", "x_post_count", "stored_post_count", "coverage")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    LOCAL_START_FIELD_NUMBER: _ClassVar[int]
    X_POST_COUNT_FIELD_NUMBER: _ClassVar[int]
    STORED_POST_COUNT_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    local_start: str
    x_post_count: int
    stored_post_count: int
    coverage: float
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., local_start: _Optional[str] = ..., x_post_count: _Optional[int] = ..., stored_post_count: _Optional[int] = ..., coverage: _Optional[float] = ...) -> None: ...

class HashtagCoverage(_message.Message):
    __slots__ = ("hashtag", "time_zone", "counts_available", "message", "query", "counts_fetch_time", "hours", "x_post_count", "stored_post_count", "coverage")
    HASHTAG_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    COUNTS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FETCH_TIME_FIELD_NUMBER: _ClassVar[int]
    HOURS_FIELD_NUMBER: _ClassVar[int]
    X_POST_COUNT_FIELD_NUMBER: _ClassVar[int]
    STORED_POST_COUNT_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_FIELD_NUMBER: _ClassVar[int]
    hashtag: str
    time_zone: str
    counts_available: bool
    message: str
    query: str
    counts_fetch_time: _timestamp_pb2.Timestamp
    hours: _containers.RepeatedCompositeFieldContainer[CoverageHour]
    x_post_count: int
    stored_post_count: int
    coverage: float
    def __init__(self, hashtag: _Optional[str] = ..., time_zone: _Optional[str] = ..., counts_available: _Optional[bool] = ..., message: _Optional[str] = ..., query: _Optional[str] = ..., counts_fetch_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., hours: _Optional[_Iterable[_Union[CoverageHour, _Mapping]]] = ..., x_post_count: _Optional[int] = ..., stored_post_count: _Optional[int] = ..., coverage: _Optional[float] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SourceStats(_message.Message):
    __slots__ = ("source", "posts_fetched", "posts_stored")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    POSTS_FETCHED_FIELD_NUMBER: _ClassVar[int]
    POSTS_STORED_FIELD_NUMBER: _ClassVar[int]
    source: str
    posts_fetched: int
    posts_stored: int
    def __init__(self, source: _Optional[str] = ..., posts_fetched: _Optional[int] = ..., posts_stored: _Optional[int] = ...) -> None: ...

class HashtagLastRun(_message.Message):
    __slots__ = ("hashtag", "collection_id", "end_time")
    HASHTAG_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    hashtag: str
    collection_id: str
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, hashtag: _Optional[str] = ..., collection_id: _Optional[str] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SourceSpend(_message.Message):
    __slots__ = ("source", "day", "posts_billed", "users_billed", "counts_requests", "cost_usd", "daily_budget_usd", "budget_left_usd", "total_cost_usd")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    POSTS_BILLED_FIELD_NUMBER: _ClassVar[int]
    USERS_BILLED_FIELD_NUMBER: _ClassVar[int]
    COUNTS_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    DAILY_BUDGET_USD_FIELD_NUMBER: _ClassVar[int]
    BUDGET_LEFT_USD_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_USD_FIELD_NUMBER: _ClassVar[int]
    source: str
    day: str
    posts_billed: int
    users_billed: int
    counts_requests: int
    cost_usd: float
    daily_budget_usd: float
    budget_left_usd: float
    total_cost_usd: float
    def __init__(self, source: _Optional[str] = ..., day: _Optional[str] = ..., posts_billed: _Optional[int] = ..., users_billed: _Optional[int] = ..., counts_requests: _Optional[int] = ..., cost_usd: _Optional[float] = ..., daily_budget_usd: _Optional[float] = ..., budget_left_usd: _Optional[float] = ..., total_cost_usd: _Optional[float] = ...) -> None: ...

class XComplianceJob(_message.Message):
    __slots__ = ("job_type", "state", "x_job_id", "pass_start_time", "attempt", "ids_uploaded", "results", "posts_deleted", "posts_geo_scrubbed", "error_message", "update_time")
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    X_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PASS_START_TIME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    IDS_UPLOADED_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    POSTS_DELETED_FIELD_NUMBER: _ClassVar[int]
    POSTS_GEO_SCRUBBED_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    job_type: str
    state: str
    x_job_id: str
    pass_start_time: _timestamp_pb2.Timestamp
    attempt: int
    ids_uploaded: int
    results: int
    posts_deleted: int
    posts_geo_scrubbed: int
    error_message: str
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, job_type: _Optional[str] = ..., state: _Optional[str] = ..., x_job_id: _Optional[str] = ..., pass_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempt: _Optional[int] = ..., ids_uploaded: _Optional[int] = ..., results: _Optional[int] = ..., posts_deleted: _Optional[int] = ..., posts_geo_scrubbed: _Optional[int] = ..., error_message: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Stats(_message.Message):
    __slots__ = ("sources", "users", "posts", "last_successful_runs", "spend", "x_compliance_jobs")
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    POSTS_FIELD_NUMBER: _ClassVar[int]
    LAST_SUCCESSFUL_RUNS_FIELD_NUMBER: _ClassVar[int]
    SPEND_FIELD_NUMBER: _ClassVar[int]
    X_COMPLIANCE_JOBS_FIELD_NUMBER: _ClassVar[int]
    sources: _containers.RepeatedCompositeFieldContainer[SourceStats]
    users: int
    posts: int
    last_successful_runs: _containers.RepeatedCompositeFieldContainer[HashtagLastRun]
    spend: _containers.RepeatedCompositeFieldContainer[SourceSpend]
    x_compliance_jobs: _containers.RepeatedCompositeFieldContainer[XComplianceJob]
    def __init__(self, sources: _Optional[_Iterable[_Union[SourceStats, _Mapping]]] = ..., users: _Optional[int] = ..., posts: _Optional[int] = ..., last_successful_runs: _Optional[_Iterable[_Union[HashtagLastRun, _Mapping]]] = ..., spend: _Optional[_Iterable[_Union[SourceSpend, _Mapping]]] = ..., x_compliance_jobs: _Optional[_Iterable[_Union[XComplianceJob, _Mapping]]] = ...) -> None: ...

class InvalidateAggregatesRequest(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class InvalidateAggregatesResponse(_message.Message):
    __slots__ = ("generation",)
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    generation: int
    def __init__(self, generation: _Optional[int] = ...) -> None: ...
