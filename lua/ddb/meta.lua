---@meta ddb
-- LuaLS (lua-language-server) annotations for the public `ddb` API, so that
-- editors complete ddb.client(), client:*, records:* and the processor's
-- `record` / `ctx` inside callbacks. Declarations only: nothing here runs.
-- Point the language server at it: "workspace.library": ["/usr/share/ddbrun/lua"]
-- (installed) or ["lua"] (source tree).

---@class ddb
---@field version string                 ddbrun's version, "1.2.3"
---@field null ddb.Null                  DynamoDB NULL
---@field Error ddb.ErrorClass           metatable of the errors the client raises
---@field OPERATIONS string[]            every DynamoDB operation name, "GetItem", ...
---@field limits ddb.Limits              DynamoDB's key and item size limits, in bytes
local ddb = {}

---@class ddb.Null

---@class ddb.Limits
---@field partition_key integer  2048
---@field sort_key integer       1024
---@field item integer           409600 (400 KB)

---@class ddb.ErrorClass

---A DynamoDB or transport error, raised as a table; tostring() reads well.
---@class ddb.Error
---@field code string        "ConditionalCheckFailedException", "TimeoutError", ...
---@field message string
---@field status integer     HTTP status, 0 for transport failures
---@field retryable boolean
---@field request_id string?
---@field attempts integer
---@field unprocessed table? what batch_write_all / batch_get_all could not finish

---A DynamoDB string set, number set or binary set.
---@class ddb.Set: any[]

---Bytes stored as B (base64 on the wire).
---@class ddb.Binary
---@field value string

---A DynamoDB number kept as its exact text (more digits than a double holds).
---@class ddb.Number
---@field value string

---@alias ddb.Item table<string, any>
---@alias ddb.Request table<string, any>
---@alias ddb.Response table<string, any>

---@class ddb.ClientOptions
---@field endpoint string?           default: AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, DYNAMODB_ENDPOINT, else AWS
---@field region string?             default: AWS_REGION, else us-east-1
---@field access_key_id string?
---@field secret_access_key string?
---@field session_token string?
---@field ca_bundle string?
---@field connect_timeout_ms integer?
---@field request_timeout_ms integer?
---@field max_attempts integer?
---@field retry_base_ms integer?
---@field retry_multiplier number?
---@field retry_cap_ms integer?
---@field retry_mode "standard"|"adaptive"?  default: AWS_RETRY_MODE, else "standard" (shared by the whole process)

---A client for one endpoint and one set of credentials; configured from the
---environment (and .env) for what `opts` does not say.
---@param opts ddb.ClientOptions?
---@return ddb.Client
function ddb.client(opts) end

---Marks a table as a DynamoDB set (SS, NS or BS from its elements).
---@param elements any[]?
---@return ddb.Set
function ddb.set(elements) end

---@param bytes string
---@return ddb.Binary
function ddb.binary(bytes) end

---@param text string a DynamoDB number: -?digits[.digits][e[+-]digits], at most 38 significant digits
---@return ddb.Number
function ddb.number(text) end

---Marks t (default {}) as a list (L), even when empty.
---@generic T: table
---@param t T?
---@return T
function ddb.list(t) end

---Marks t (default {}) as a map (M).
---@generic T: table
---@param t T?
---@return T
function ddb.map(t) end

---@param v any
---@return boolean
function ddb.is_null(v) end

---What v would be written as: "S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS";
---or nil and the reason it cannot be stored.
---@param v any
---@return string? type
---@return string? reason
function ddb.type_of(v) end

---@param ms integer
function ddb.sleep_ms(ms) end

---The shard of a record on a table with n shards: FNV-1a 64 over AccountId,
---a 0xFF byte and RunTime, modulo n (what writers store in Shard_<n>).
---@param account_id string
---@param run_time string
---@param n integer 1..1024
---@return integer shard 0..n-1
function ddb.shard_of(account_id, run_time, n) end

---Parses .env text (KEY=value lines); raises "FILE:LINE: problem".
---@param text string
---@param filename string? named in errors
---@return table<string, string>
function ddb.parse_env(text, filename) end

---"GetItem" -> "get_item".
---@param name string
---@return string
function ddb.snake_case(name) end

---@class ddb.RecordsOptions
---@field client ddb.Client?  default: ddb.client()
---@field table string?       default: RECORDS_TABLE, else "Records"
---@field index string?       default: RECORDS_INDEX, else "Processed" (or the table's one sharded index)
---@field shards integer?      default: RECORDS_SHARDS; when given, the table's layout must have as many

---The Record model on the Records table (AccountId / RunTime, GSI Processed).
---@param opts ddb.RecordsOptions?
---@return ddb.Records
function ddb.records(opts) end

---@class ddb.ProcessorOptions
---@field max_workers integer?         worker threads (PROCESSOR_MAX_WORKERS, 5)
---@field max_retries integer?         DynamoDB retries after the first attempt (3)
---@field backoff_base_ms integer?     (100)
---@field backoff_multiplier number?   (2)
---@field backoff_cap_ms integer?      (20000)
---@field callback_retries integer?    extra runs of a failed callback (0)
---@field timeout_ms integer?          per-record callback timeout, 0 = none
---@field lease_ms integer?            coordinate many processes with portion leases (README), 0 = off
---@field max_failures integer?        failed runs before a record is parked (Processed = 2), 0 = unlimited
---@field max_errors integer?          failures listed in errors (1000); stats.failed counts all
---@field errors_file string?          append every failure to this file as a JSON line
---@field drain_timeout_ms integer?    after Ctrl-C/SIGTERM, how long in-flight callbacks may take (25000)
---@field page_size integer?           GSI page size (500)
---@field max_requests_per_s integer?  cap on the run's requests per second, 0 = none
---@field queue_size integer?
---@field mark_concurrency integer?    marks in flight at once (32); up to 8x that many wait to be sent
---@field progress boolean|"log"?      true: a live line on stderr (when a terminal); "log": a plain line per interval
---@field progress_interval_ms integer? how often progress = "log" prints (10000)
---@field summary boolean|"json"?      true: one summary line on stderr; "json": one JSON line
---@field table string?
---@field index string?
---@field client ddb.Client?           take endpoint and credentials from this client

---@param opts ddb.ProcessorOptions?
---@return ddb.Processor
function ddb.processor(opts) end

---@class ddb.Processor
local Processor = {}

---Runs callback(record, ctx) for every unprocessed record on the worker
---threads and marks each one processed when it succeeds. The callback fails
---by raising, or by returning false or nil, message.
---@param callback fun(record: ddb.ProcessorRecord, ctx: ddb.ProcessorContext): any
---@return ddb.ProcessorError[] errors
---@return ddb.ProcessorStats stats
function Processor:process_all(callback) end

---The options in effect.
---@return table<string, any>
function Processor:options() end

---Every attribute of the record's item.
---@class ddb.ProcessorRecord
---@field [string] any
---@field AccountId string
---@field RunTime string     ISO-8601 UTC, "2026-02-17T12:00:00Z"
---@field Processed integer  0 while it is being processed

---One worker's context; client and records are made on first use.
---@class ddb.ProcessorContext
---@field worker integer      1..max_workers
---@field client ddb.Client   this worker's own client
---@field records ddb.Records this worker's own Record model
---@field lease integer?      with lease_ms: the fencing token of the record's portion lease

---@class ddb.ProcessorError
---@field AccountId string
---@field RunTime string
---@field kind "callback"|"timeout"|"dynamodb"|"lease"|"invalid"
---@field error string
---@field attempts integer

---@class ddb.ProcessorStats
---@field processed integer
---@field failed integer
---@field skipped integer     marked first by another process
---@field parked integer
---@field workers integer
---@field errors_lost integer
---@field elapsed_s number
---@field records_per_s number
---@field consumed_wcu number  capacity units of the processor's own requests (leases included)
---@field consumed_rcu number
---@field lease_wcu number     of which the lease thread's
---@field lease_rcu number
---@field interrupted boolean
---@field stopped "interrupt"|"terminate"|"exit"|"host"|nil why the run stopped early

---@class ddb.RecordQueryOptions
---@field limit integer?   at most this many records (all pages when absent)
---@field from string?     RunTime at or after (ISO-8601 UTC)
---@field to string?       RunTime at or before (ISO-8601 UTC)

---@class ddb.Records
local Records = {}

---Writes a record; Processed defaults to 0.
---@param item ddb.Item
function Records:put_item(item) end

---@param account_id string
---@param run_time string
---@return ddb.Item?
function Records:get_item(account_id, run_time) end

---@param account_id string
---@param run_time string
function Records:delete_item(account_id, run_time) end

---Conditional update Processed 0 -> 1.
---@param account_id string
---@param run_time string
---@return boolean marked false when already processed or missing
function Records:mark_as_processed(account_id, run_time) end

---@param opts ddb.RecordQueryOptions?
---@return ddb.Item[]
function Records:query_unprocessed(opts) end

---@param opts ddb.RecordQueryOptions?
---@return ddb.Item[]
function Records:query_processed(opts) end

---Parked records (Processed = 2: their callback failed max_failures times).
---@param opts ddb.RecordQueryOptions?
---@return ddb.Item[]
function Records:query_failed(opts) end

---Puts a parked record back to unprocessed.
---@param account_id string
---@param run_time string
---@return boolean requeued false when it was not parked
function Records:requeue(account_id, run_time) end

---@param account_id string
---@param opts ddb.RecordQueryOptions?
---@return ddb.Item[]
function Records:query_by_account(account_id, opts) end

---Streams unprocessed records page by page: for r in records:unprocessed() do ... end
---@param opts ddb.RecordQueryOptions?
---@return fun(): ddb.Item?
function Records:unprocessed(opts) end

---@param opts ddb.RecordQueryOptions?
---@return fun(): ddb.Item?
function Records:processed(opts) end

---@param account_id string
---@param opts ddb.RecordQueryOptions?
---@return fun(): ddb.Item?
function Records:by_account(account_id, opts) end

---The layout read from the table: the index queried and, when sharded, the shard count and attribute.
---@return { table: string, index: string, shards: integer, shard_attribute: string? }
function Records:info() end

---@return ddb.Client
function Records:client() end

---@class ddb.BatchOptions
---@field max_attempts integer? (8)
---@field base_ms integer?      (50)
---@field cap_ms integer?       (5000)

---@class ddb.Client
local Client = {}

---Any DynamoDB operation by its AWS name.
---@param operation string "GetItem", "Query", ...
---@param request ddb.Request
---@return ddb.Response
function Client:call(operation, request) end

---@return { endpoint: string, region: string, max_attempts: integer, connect_timeout_ms: integer, request_timeout_ms: integer, retry_mode: string, retry_quota: integer }
function Client:info() end

function Client:close() end

---@param request ddb.Request Query request
---@return fun(): ddb.Response?
function Client:query_pages(request) end

---@param request ddb.Request Scan request
---@return fun(): ddb.Response?
function Client:scan_pages(request) end

---@param request ddb.Request
---@return fun(): ddb.Item?
function Client:query_items(request) end

---@param request ddb.Request
---@return fun(): ddb.Item?
function Client:scan_items(request) end

---@param request ddb.Request
---@return ddb.Item[]
function Client:query_all(request) end

---@param request ddb.Request
---@return ddb.Item[]
function Client:scan_all(request) end

---BatchWriteItem in chunks of 25 until DynamoDB has taken everything.
---@param request_items table<string, table[]>
---@param opts ddb.BatchOptions?
function Client:batch_write_all(request_items, opts) end

---BatchGetItem in chunks of 100; returns { Table = { item, ... } }.
---@param request_items table<string, table>
---@param opts ddb.BatchOptions?
---@return table<string, ddb.Item[]>
function Client:batch_get_all(request_items, opts) end

---@param table_name string
---@param items ddb.Item[]
---@param opts ddb.BatchOptions?
function Client:put_all(table_name, items, opts) end

---@param table_name string
---@param keys ddb.Item[]
---@param opts ddb.BatchOptions?
function Client:delete_all(table_name, keys, opts) end

---@param table_name string
---@param keys ddb.Item[]
---@param opts ddb.BatchOptions?
---@return ddb.Item[]
function Client:get_all(table_name, keys, opts) end

-- Every DynamoDB operation as client:snake_case(request) -> response.

---BatchExecuteStatement
---@param request ddb.Request
---@return ddb.Response
function Client:batch_execute_statement(request) end

---BatchGetItem
---@param request ddb.Request
---@return ddb.Response
function Client:batch_get_item(request) end

---BatchWriteItem
---@param request ddb.Request
---@return ddb.Response
function Client:batch_write_item(request) end

---CreateBackup
---@param request ddb.Request
---@return ddb.Response
function Client:create_backup(request) end

---CreateGlobalTable
---@param request ddb.Request
---@return ddb.Response
function Client:create_global_table(request) end

---CreateTable
---@param request ddb.Request
---@return ddb.Response
function Client:create_table(request) end

---DeleteBackup
---@param request ddb.Request
---@return ddb.Response
function Client:delete_backup(request) end

---DeleteItem
---@param request ddb.Request
---@return ddb.Response
function Client:delete_item(request) end

---DeleteResourcePolicy
---@param request ddb.Request
---@return ddb.Response
function Client:delete_resource_policy(request) end

---DeleteTable
---@param request ddb.Request
---@return ddb.Response
function Client:delete_table(request) end

---DescribeBackup
---@param request ddb.Request
---@return ddb.Response
function Client:describe_backup(request) end

---DescribeContinuousBackups
---@param request ddb.Request
---@return ddb.Response
function Client:describe_continuous_backups(request) end

---DescribeContributorInsights
---@param request ddb.Request
---@return ddb.Response
function Client:describe_contributor_insights(request) end

---DescribeEndpoints
---@param request ddb.Request
---@return ddb.Response
function Client:describe_endpoints(request) end

---DescribeExport
---@param request ddb.Request
---@return ddb.Response
function Client:describe_export(request) end

---DescribeGlobalTable
---@param request ddb.Request
---@return ddb.Response
function Client:describe_global_table(request) end

---DescribeGlobalTableSettings
---@param request ddb.Request
---@return ddb.Response
function Client:describe_global_table_settings(request) end

---DescribeImport
---@param request ddb.Request
---@return ddb.Response
function Client:describe_import(request) end

---DescribeKinesisStreamingDestination
---@param request ddb.Request
---@return ddb.Response
function Client:describe_kinesis_streaming_destination(request) end

---DescribeLimits
---@param request ddb.Request
---@return ddb.Response
function Client:describe_limits(request) end

---DescribeTable
---@param request ddb.Request
---@return ddb.Response
function Client:describe_table(request) end

---DescribeTableReplicaAutoScaling
---@param request ddb.Request
---@return ddb.Response
function Client:describe_table_replica_auto_scaling(request) end

---DescribeTimeToLive
---@param request ddb.Request
---@return ddb.Response
function Client:describe_time_to_live(request) end

---DisableKinesisStreamingDestination
---@param request ddb.Request
---@return ddb.Response
function Client:disable_kinesis_streaming_destination(request) end

---EnableKinesisStreamingDestination
---@param request ddb.Request
---@return ddb.Response
function Client:enable_kinesis_streaming_destination(request) end

---ExecuteStatement
---@param request ddb.Request
---@return ddb.Response
function Client:execute_statement(request) end

---ExecuteTransaction
---@param request ddb.Request
---@return ddb.Response
function Client:execute_transaction(request) end

---ExportTableToPointInTime
---@param request ddb.Request
---@return ddb.Response
function Client:export_table_to_point_in_time(request) end

---GetItem
---@param request ddb.Request
---@return ddb.Response
function Client:get_item(request) end

---GetResourcePolicy
---@param request ddb.Request
---@return ddb.Response
function Client:get_resource_policy(request) end

---ImportTable
---@param request ddb.Request
---@return ddb.Response
function Client:import_table(request) end

---ListBackups
---@param request ddb.Request
---@return ddb.Response
function Client:list_backups(request) end

---ListContributorInsights
---@param request ddb.Request
---@return ddb.Response
function Client:list_contributor_insights(request) end

---ListExports
---@param request ddb.Request
---@return ddb.Response
function Client:list_exports(request) end

---ListGlobalTables
---@param request ddb.Request
---@return ddb.Response
function Client:list_global_tables(request) end

---ListImports
---@param request ddb.Request
---@return ddb.Response
function Client:list_imports(request) end

---ListTables
---@param request ddb.Request
---@return ddb.Response
function Client:list_tables(request) end

---ListTagsOfResource
---@param request ddb.Request
---@return ddb.Response
function Client:list_tags_of_resource(request) end

---PutItem
---@param request ddb.Request
---@return ddb.Response
function Client:put_item(request) end

---PutResourcePolicy
---@param request ddb.Request
---@return ddb.Response
function Client:put_resource_policy(request) end

---Query
---@param request ddb.Request
---@return ddb.Response
function Client:query(request) end

---RestoreTableFromBackup
---@param request ddb.Request
---@return ddb.Response
function Client:restore_table_from_backup(request) end

---RestoreTableToPointInTime
---@param request ddb.Request
---@return ddb.Response
function Client:restore_table_to_point_in_time(request) end

---Scan
---@param request ddb.Request
---@return ddb.Response
function Client:scan(request) end

---TagResource
---@param request ddb.Request
---@return ddb.Response
function Client:tag_resource(request) end

---TransactGetItems
---@param request ddb.Request
---@return ddb.Response
function Client:transact_get_items(request) end

---TransactWriteItems
---@param request ddb.Request
---@return ddb.Response
function Client:transact_write_items(request) end

---UntagResource
---@param request ddb.Request
---@return ddb.Response
function Client:untag_resource(request) end

---UpdateContinuousBackups
---@param request ddb.Request
---@return ddb.Response
function Client:update_continuous_backups(request) end

---UpdateContributorInsights
---@param request ddb.Request
---@return ddb.Response
function Client:update_contributor_insights(request) end

---UpdateGlobalTable
---@param request ddb.Request
---@return ddb.Response
function Client:update_global_table(request) end

---UpdateGlobalTableSettings
---@param request ddb.Request
---@return ddb.Response
function Client:update_global_table_settings(request) end

---UpdateItem
---@param request ddb.Request
---@return ddb.Response
function Client:update_item(request) end

---UpdateKinesisStreamingDestination
---@param request ddb.Request
---@return ddb.Response
function Client:update_kinesis_streaming_destination(request) end

---UpdateTable
---@param request ddb.Request
---@return ddb.Response
function Client:update_table(request) end

---UpdateTableReplicaAutoScaling
---@param request ddb.Request
---@return ddb.Response
function Client:update_table_replica_auto_scaling(request) end

---UpdateTimeToLive
---@param request ddb.Request
---@return ddb.Response
function Client:update_time_to_live(request) end

return ddb
