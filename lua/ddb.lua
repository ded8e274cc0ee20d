-- The public `ddb` module: value types and the client come from the native
-- core (ddb.core, in C); operation methods, paginators and batch helpers are
-- written here, on top of client:call.
local core = require("ddb.core")

local ddb = { version = core.version, Error = core.Error }
for _, name in ipairs { "null", "set", "binary", "number", "list", "map", "is_null", "type_of",
                        "client", "parse_env", "sleep_ms", "records", "processor", "limits" } do
  ddb[name] = core[name]
end

local Client = core.Client.__index

-- Every DynamoDB operation, as client:snake_case_name(request).
ddb.OPERATIONS = {
  "BatchExecuteStatement", "BatchGetItem", "BatchWriteItem", "CreateBackup", "CreateGlobalTable",
  "CreateTable", "DeleteBackup", "DeleteItem", "DeleteResourcePolicy", "DeleteTable",
  "DescribeBackup", "DescribeContinuousBackups", "DescribeContributorInsights", "DescribeEndpoints",
  "DescribeExport", "DescribeGlobalTable", "DescribeGlobalTableSettings", "DescribeImport",
  "DescribeKinesisStreamingDestination", "DescribeLimits", "DescribeTable",
  "DescribeTableReplicaAutoScaling", "DescribeTimeToLive", "DisableKinesisStreamingDestination",
  "EnableKinesisStreamingDestination", "ExecuteStatement", "ExecuteTransaction",
  "ExportTableToPointInTime", "GetItem", "GetResourcePolicy", "ImportTable", "ListBackups",
  "ListContributorInsights", "ListExports", "ListGlobalTables", "ListImports", "ListTables",
  "ListTagsOfResource", "PutItem", "PutResourcePolicy", "Query", "RestoreTableFromBackup",
  "RestoreTableToPointInTime", "Scan", "TagResource", "TransactGetItems", "TransactWriteItems",
  "UntagResource", "UpdateContinuousBackups", "UpdateContributorInsights", "UpdateGlobalTable",
  "UpdateGlobalTableSettings", "UpdateItem", "UpdateKinesisStreamingDestination", "UpdateTable",
  "UpdateTableReplicaAutoScaling", "UpdateTimeToLive",
}

function ddb.snake_case(name)
  return (name:gsub("(%l)(%u)", "%1_%2"):lower())
end

for _, op in ipairs(ddb.OPERATIONS) do
  Client[ddb.snake_case(op)] = function(self, request) return self:call(op, request) end
end

local function copy(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

-- Iterates over the response pages of a Query or Scan, following LastEvaluatedKey.
local function pages(client, op, request)
  local req, done = copy(request), false
  return function()
    if done then return nil end
    local page = client:call(op, req)
    req.ExclusiveStartKey = page.LastEvaluatedKey
    done = page.LastEvaluatedKey == nil
    return page
  end
end

local function items(client, op, request)
  local next_page, page, i = pages(client, op, request), nil, 0
  return function()
    while true do
      if page and i < #page.Items then
        i = i + 1
        return page.Items[i]
      end
      page, i = next_page(), 0
      if not page then return nil end
    end
  end
end

local function all_items(client, op, request)
  local list = {}
  for item in items(client, op, request) do list[#list + 1] = item end
  return list
end

function Client:query_pages(request) return pages(self, "Query", request) end
function Client:scan_pages(request) return pages(self, "Scan", request) end
function Client:query_items(request) return items(self, "Query", request) end
function Client:scan_items(request) return items(self, "Scan", request) end
function Client:query_all(request) return all_items(self, "Query", request) end
function Client:scan_all(request) return all_items(self, "Scan", request) end

-- Back-off for the batch helpers' unprocessed items: full jitter, capped.
local function backoff(attempt, opts)
  local ceiling = math.min(opts.cap_ms or 5000, (opts.base_ms or 50) * 2 ^ (attempt - 1))
  core.sleep_ms(math.random(0, math.floor(ceiling)))
end

local function unprocessed_error(what, left, attempts)
  return setmetatable({
    code = "Unprocessed" .. what, retryable = true, attempts = attempts, status = 0,
    message = string.format("%d %s still unprocessed after %d attempts", left,
                            what == "Items" and "write requests" or "keys", attempts),
  }, core.Error)
end

-- Sends one batch chunk until DynamoDB has taken all of it. what is "Items"
-- (BatchWriteItem) or "Keys" (BatchGetItem), naming the field the leftovers
-- come back in; count(left) counts them; on_response(out) sees every answer.
local function until_processed(client, what, chunk, opts, count, on_response)
  local op = what == "Items" and "BatchWriteItem" or "BatchGetItem"
  local attempts = opts.max_attempts or 8
  for attempt = 1, attempts do
    local out = client:call(op, { RequestItems = chunk })
    if on_response then on_response(out) end
    chunk = out["Unprocessed" .. what]
    if not chunk or next(chunk) == nil then return end
    if attempt < attempts then backoff(attempt, opts) end
  end
  local err = unprocessed_error(what, count(chunk), attempts)
  err.unprocessed = chunk
  error(err, 0)
end

local function count_writes(request_items)
  local left = 0
  for _, list in pairs(request_items) do left = left + #list end
  return left
end

local function count_keys(request_items)
  local left = 0
  for _, spec in pairs(request_items) do left = left + #spec.Keys end
  return left
end

-- Splits {Table = {request, ...}, ...} into chunks of at most `size` requests.
local function chunks(request_items, size, per_table)
  local list, current, n = {}, {}, 0
  for table_name, requests in pairs(request_items) do
    for _, r in ipairs(per_table and requests.Keys or requests) do
      if n == size then list[#list + 1], current, n = current, {}, 0 end
      local bucket = current[table_name]
      if not bucket then
        bucket = per_table and per_table(requests) or {}
        current[table_name] = bucket
      end
      local target = per_table and bucket.Keys or bucket
      target[#target + 1] = r
      n = n + 1
    end
  end
  if n > 0 then list[#list + 1] = current end
  return list
end

-- Writes any number of PutRequest/DeleteRequest entries (BatchWriteItem's
-- RequestItems shape) in chunks of 25, retrying UnprocessedItems with back-off.
-- opts: max_attempts (8), base_ms (50), cap_ms (5000).
function Client:batch_write_all(request_items, opts)
  for _, chunk in ipairs(chunks(request_items, 25)) do
    until_processed(self, "Items", chunk, opts or {}, count_writes)
  end
end

local function keys_request_like(spec)
  local r = copy(spec)
  r.Keys = {}
  return r
end

-- Gets any number of keys (BatchGetItem's RequestItems shape) in chunks of
-- 100, retrying UnprocessedKeys. Returns { Table = { item, ... }, ... }.
function Client:batch_get_all(request_items, opts)
  local responses = {}
  for table_name in pairs(request_items) do responses[table_name] = {} end
  local function collect(out)
    for table_name, list in pairs(out.Responses or {}) do
      local dst = responses[table_name]
      for _, item in ipairs(list) do dst[#dst + 1] = item end
    end
  end
  for _, chunk in ipairs(chunks(request_items, 100, keys_request_like)) do
    until_processed(self, "Keys", chunk, opts or {}, count_keys, collect)
  end
  return responses
end

function Client:put_all(table_name, list, opts)
  local requests = {}
  for i, item in ipairs(list) do requests[i] = { PutRequest = { Item = item } } end
  return self:batch_write_all({ [table_name] = requests }, opts)
end

function Client:delete_all(table_name, keys, opts)
  local requests = {}
  for i, key in ipairs(keys) do requests[i] = { DeleteRequest = { Key = key } } end
  return self:batch_write_all({ [table_name] = requests }, opts)
end

function Client:get_all(table_name, keys, opts)
  local spec = copy(opts)
  spec.Keys = keys
  spec.max_attempts, spec.base_ms, spec.cap_ms = nil, nil, nil
  return self:batch_get_all({ [table_name] = spec }, opts)[table_name]
end

-- The per-worker `ctx` of processor callbacks: { worker = n } with `client`
-- and `records` made on first use. new_client(config) comes from C.
function ddb.worker_context(worker, table_name, index_name, new_client, config)
  local lazy = {
    client = function(ctx) return new_client(config) end,
    records = function(ctx) return ddb.records { client = ctx.client, table = table_name, index = index_name } end,
  }
  return setmetatable({ worker = worker }, {
    __index = function(ctx, key)
      local make = lazy[key]
      if not make then return nil end
      local value = make(ctx)
      rawset(ctx, key, value)
      return value
    end,
  })
end

return ddb
