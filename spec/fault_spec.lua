-- Faults between ddbrun and DynamoDB Local: every call goes through
-- tests/tools/faultproxy, which throttles, fails, resets, delays, truncates
-- and corrupts a share of the requests. Nothing may be lost or done twice,
-- and every failure must surface with the right error code.
local ddb = require("ddb")
local tables = require("ddb.tables")
local helper = require("helper")

local direct = helper.client()

local KINDS = { "throttle", "throttling", "500", "503html", "reset-before", "reset-after",
                "delay", "truncate", "crc", "badjson" }

local function start_proxy(args)
  return helper.start_proxy(args, 150)
end

local function proxied(proxy, opts)
  opts.endpoint = proxy.endpoint
  return ddb.client(opts)
end

local function injected(stats)
  local total, parts = 0, {}
  for _, kind in ipairs(KINDS) do
    local n = stats[kind] or 0
    total = total + n
    if n > 0 then parts[#parts + 1] = kind .. " " .. n end
  end
  return total, table.concat(parts, ", ")
end

local function key_of(item) return item.AccountId .. "|" .. item.RunTime end

local function records_table()
  local name = helper.unique("fault_records")
  tables.ensure(direct, tables.records(name, "Processed"))
  return name
end

local function load_records(name, n)
  local items, start = {}, os.time { year = 2026, month = 1, day = 1, hour = 0 }
  for i = 1, n do
    items[i] = { AccountId = string.format("acct-%02d", i % 20), RunTime = os.date("!%Y-%m-%dT%H:%M:%SZ", start + i),
                 Processed = 0, N = i }
  end
  direct:put_all(name, items)
  return items
end

-- Counts callback runs per record in another table, written straight to
-- DynamoDB Local (not through the proxy) so that counting itself never fails.
local function counting_callback(counter_table)
  local endpoint = helper.endpoint
  return function(record, ctx)
    local c = ctx.counter or ddb.client { endpoint = endpoint }
    ctx.counter = c
    c:update_item { TableName = counter_table, Key = { pk = record.AccountId .. "|" .. record.RunTime },
                    UpdateExpression = "ADD calls :one", ExpressionAttributeValues = { [":one"] = 1 } }
  end
end

local function by_key(list, key, value)
  local map = {}
  for _, item in ipairs(list) do map[key(item)] = value(item) end
  return map
end

local function processor_for(client, name)
  return ddb.processor { client = client, table = name, index = "Processed", max_workers = 8, max_retries = 6,
                         backoff_base_ms = 5, backoff_cap_ms = 100, progress = false, summary = false }
end

local MAX_ATTEMPTS = 7   -- max_retries + 1

-- Processes n records through a proxy failing `rate` of the requests, checks
-- that nothing was lost or done twice, then finishes the rest without faults.
local function process_under_faults(n, rate, seed)
  local name, counters = records_table(), helper.create_table(direct, "pk")
  local items = load_records(name, n)
  local proxy = start_proxy(string.format("--rate %s --seed %d --delay-ms 1500", rate, seed))
  local ok, err = pcall(function()
    local client = proxied(proxy, { request_timeout_ms = 500, max_attempts = 10, retry_base_ms = 5,
                                    retry_cap_ms = 100 })
    local t0 = helper.now()
    local errors, stats = processor_for(client, name):process_all(counting_callback(counters))
    local elapsed = helper.now() - t0
    local fstats = proxy:stop()

    local marked = by_key(direct:scan_all { TableName = name, ConsistentRead = true }, key_of,
                          function(r) return r.Processed end)
    local calls = by_key(direct:scan_all { TableName = counters, ConsistentRead = true },
                         function(r) return r.pk end, function(r) return r.calls end)
    local reported, retries_in_errors = {}, 0
    for _, e in ipairs(errors) do
      local key = e.AccountId .. "|" .. e.RunTime
      assert.is_nil(reported[key], "a record is reported twice: " .. key)
      reported[key] = e
      retries_in_errors = retries_in_errors + e.attempts - 1
    end
    local first_run, both = 0, 0
    for _, item in ipairs(items) do
      local key = key_of(item)
      if marked[key] == 1 then first_run = first_run + 1 end
      if marked[key] == 1 and reported[key] then both = both + 1 end
    end
    local total, kinds = injected(fstats)
    io.stderr:write(string.format(
      "\nfaults %d%%: %d requests, %d faults injected (%s); retries: %d (requests beyond one per record), " ..
      "%d within reported errors; processed %d, failed %d, skipped %d, marked-and-reported %d in %.1f s\n",
      math.floor(rate * 100 + 0.5), fstats.requests, total, kinds, fstats.requests - n, retries_in_errors,
      stats.processed, stats.failed, stats.skipped, both, elapsed))

    assert.is_true(total > 0, "no faults were injected")
    assert.are.equal(0, fstats.upstream_errors)
    for _, item in ipairs(items) do
      local key = key_of(item)
      local e, done, count = reported[key], marked[key] == 1, calls[key] or 0
      assert.is_true(done or e ~= nil, "neither marked nor reported: " .. key)
      if done then assert.is_true(count >= 1, "marked without a callback: " .. key) end
      if e then
        -- the callback writes past the proxy, so only DynamoDB calls can fail
        assert.are.equal("dynamodb", e.kind, e.error)
      else
        assert.are.equal(1, count, "callback count of " .. key)
      end
      if done and e then
        -- Only a mark whose every attempt failed after one of them was applied
        -- can end both marked and reported; the processor cannot know.
        assert.are.equal(MAX_ATTEMPTS, e.attempts, e.error)
        assert.truthy(e.error:find("^marking processed: "), e.error)
      end
    end
    assert.are.equal(n, stats.processed + stats.failed + stats.skipped)
    assert.are.equal(#errors, stats.failed)
    -- nobody else works on this table: a skip is a mark we applied but did not see
    assert.are.equal(0, stats.skipped, "records marked by this run but reported as skipped")
    assert.are.equal(first_run - both, stats.processed)

    -- a second run without faults finishes exactly what is left
    local left = n - first_run
    local errors2, stats2 = processor_for(direct, name):process_all(counting_callback(counters))
    assert.are.same({}, errors2)
    assert.are.equal(left, stats2.processed)
    local after = direct:scan_all { TableName = name, ConsistentRead = true }
    assert.are.equal(n, #after)
    for _, r in ipairs(after) do assert.are.equal(1, r.Processed, key_of(r)) end
    local calls2 = by_key(direct:scan_all { TableName = counters, ConsistentRead = true },
                          function(r) return r.pk end, function(r) return r.calls end)
    for _, item in ipairs(items) do
      local key = key_of(item)
      local expected = (calls[key] or 0) + (marked[key] == 1 and 0 or 1)
      assert.are.equal(expected, calls2[key], "callback count after the second run of " .. key)
    end
  end)
  proxy:stop()
  pcall(direct.delete_table, direct, { TableName = name })
  pcall(direct.delete_table, direct, { TableName = counters })
  if not ok then error(err, 0) end
end

describe("faults: the record processor", function()
  it("loses nothing and marks nothing twice at a 5% fault rate", function()
    process_under_faults(1000, 0.05, 5)
  end)

  it("loses nothing and marks nothing twice at a 30% fault rate", function()
    process_under_faults(1000, 0.3, 30)
  end)
end)

describe("faults: batch helpers", function()
  local name
  setup(function() name = helper.create_table(direct, "pk", "sk") end)
  teardown(function() pcall(direct.delete_table, direct, { TableName = name }) end)

  it("put_all and get_all through 30% faults end with every item exactly as sent", function()
    local items, keys, payload = {}, {}, string.rep("p", 1000)
    for i = 1, 500 do
      items[i] = { pk = "batch", sk = string.format("%04d", i), n = i, f = i / 7, s = payload .. i,
                   l = { i, tostring(i), { deep = i % 3 == 0 } } }
      keys[i] = { pk = "batch", sk = items[i].sk }
    end
    local proxy = start_proxy("--rate 0.3 --seed 11 --delay-ms 1500")
    local ok, err = pcall(function()
      local client = proxied(proxy, { request_timeout_ms = 500, max_attempts = 8, retry_base_ms = 5,
                                      retry_cap_ms = 100 })
      client:put_all(name, items, { base_ms = 5, cap_ms = 100 })
      local got = client:get_all(name, keys, { ConsistentRead = true, base_ms = 5, cap_ms = 100 })
      local stats = proxy:stop()

      local stored = direct:scan_all { TableName = name, ConsistentRead = true }
      assert.are.equal(500, #stored)
      local by_sk = by_key(stored, function(r) return r.sk end, function(r) return r end)
      local read = by_key(got, function(r) return r.sk end, function(r) return r end)
      assert.are.equal(500, #got)
      for _, item in ipairs(items) do
        assert.are.same(item, by_sk[item.sk])
        assert.are.same(item, read[item.sk])
      end
      local total, kinds = injected(stats)
      assert.is_true(total > 0, "no faults were injected")
      io.stderr:write(string.format("\nbatch faults 30%%: %d requests, %d faults injected (%s)\n",
        stats.requests, total, kinds))
    end)
    proxy:stop()
    if not ok then error(err, 0) end
  end)
end)

describe("faults: a conditional write reset after it was applied", function()
  local name
  setup(function() name = records_table() end)
  teardown(function() pcall(direct.delete_table, direct, { TableName = name }) end)

  -- after = requests the proxy passes before its one reset (besides the
  -- DescribeTable that reads the layout first), so that the reset hits the
  -- first mark (0) or one after a GetItem on the same connection (1)
  for _, case in ipairs { { "a fresh", 0 }, { "a reused", 1 } } do
    it("is reported as marked and applied once on " .. case[1] .. " connection", function()
      local rt = string.format("2026-03-01T00:00:0%dZ", case[2])
      direct:put_item { TableName = name, Item = { AccountId = "reset", RunTime = rt, Processed = 0 } }
      local proxy = start_proxy("--rate 1 --faults reset-after --max-faults 1 --after " .. (case[2] + 1))
      local ok, err = pcall(function()
        local client = proxied(proxy, { max_attempts = 3, retry_base_ms = 5 })
        local records = ddb.records { client = client, table = name, index = "Processed" }
        if case[2] > 0 then assert.are.equal(0, records:get_item("reset", rt).Processed) end
        assert.is_true(records:mark_as_processed("reset", rt))
        assert.is_false(records:mark_as_processed("reset", rt))
        local stats = proxy:stop()
        assert.are.equal(1, stats["reset-after"])
        -- DescribeTable, the applied write, the retry that found it done, and the second call
        assert.are.equal(case[2] + 4, stats.forwarded)
        local item = direct:get_item { TableName = name, Key = { AccountId = "reset", RunTime = rt },
                                       ConsistentRead = true }.Item
        assert.are.same({ AccountId = "reset", RunTime = rt, Processed = 1 }, item)
      end)
      proxy:stop()
      if not ok then error(err, 0) end
    end)
  end
end)

-- issue 9.2: a transaction whose answer is lost is sent again with the same
-- ClientRequestToken, so DynamoDB applies each logical call once
describe("faults: transactions reset after they were applied", function()
  local name
  setup(function() name = helper.create_table(direct, "pk") end)
  teardown(function() pcall(direct.delete_table, direct, { TableName = name }) end)

  local function add_one(client, token)
    client:transact_write_items { ClientRequestToken = token, TransactItems = { { Update = {
      TableName = name, Key = { pk = "counter" }, UpdateExpression = "ADD n :one",
      ExpressionAttributeValues = { [":one"] = 1 } } } } }
  end

  it("applies each of 40 calls exactly once through 40% resets", function()
    local proxy = start_proxy("--rate 0.4 --seed 9 --faults reset-after")
    local ok, err = pcall(function()
      local client = proxied(proxy, { max_attempts = 20, retry_base_ms = 1, retry_cap_ms = 5 })
      for _ = 1, 40 do add_one(client) end
      local stats = proxy:stop()
      assert.is_true(stats["reset-after"] > 0, "no reset was injected")
      local item = direct:get_item { TableName = name, Key = { pk = "counter" }, ConsistentRead = true }.Item
      assert.are.equal(40, item.n)
    end)
    proxy:stop()
    if not ok then error(err, 0) end
  end)

  it("keeps a token the caller set", function()
    direct:delete_item { TableName = name, Key = { pk = "counter" } }
    add_one(direct, "caller-token-1")
    add_one(direct, "caller-token-1")
    add_one(direct, "caller-token-2")
    assert.are.equal(2, direct:get_item { TableName = name, Key = { pk = "counter" }, ConsistentRead = true }.Item.n)
  end)
end)

describe("faults: each kind on a single call", function()
  local EXPECTED = {
    { "throttle", "ProvisionedThroughputExceededException", 400 },
    { "throttling", "ThrottlingException", 400 },
    { "500", "InternalServerError", 500 },
    { "503html", "ServiceUnavailable", 503 },
    { "reset-before", "ConnectionReset", 0 },
    { "reset-after", "ConnectionReset", 0 },
    { "delay", "TimeoutError", 0 },
    { "truncate", "ConnectionReset", 0 },
    { "crc", "ChecksumMismatch", 200 },
    { "badjson", "InvalidResponse", 200 },
  }
  -- generous against DynamoDB Local's own latency on a busy box; below --delay-ms
  local TIMEOUT_MS = 2000
  local name
  setup(function() name = helper.create_table(direct, "pk") end)
  teardown(function() pcall(direct.delete_table, direct, { TableName = name }) end)

  for _, case in ipairs(EXPECTED) do
    local kind, code, status = case[1], case[2], case[3]

    it(kind .. " surfaces as " .. code, function()
      local proxy = start_proxy("--rate 1 --delay-ms 3000 --faults " .. kind)
      local ok, err = pcall(function()
        local client = proxied(proxy, { max_attempts = 1, request_timeout_ms = TIMEOUT_MS })
        local t0 = helper.now()
        local called, e = pcall(client.list_tables, client, {})
        local elapsed = helper.now() - t0
        assert.is_false(called)
        assert.are.equal(ddb.Error, getmetatable(e))
        assert.are.equal(code, e.code, tostring(e))
        assert.is_true(e.retryable)
        assert.are.equal(1, e.attempts)
        assert.are.equal(status, e.status)
        assert.is_true(elapsed < 3, "took " .. elapsed .. " s")   -- below --delay-ms: never the proxy's delay
        local stats = proxy:stop()
        assert.are.equal(1, stats[kind])
        assert.are.equal(1, stats.requests)
      end)
      proxy:stop()
      if not ok then error(err, 0) end
    end)

    it(kind .. " once is retried to success", function()
      local proxy = start_proxy("--rate 1 --max-faults 1 --delay-ms 3000 --faults " .. kind)
      local ok, err = pcall(function()
        local client = proxied(proxy, { max_attempts = 5, request_timeout_ms = TIMEOUT_MS, retry_base_ms = 5 })
        local item = { pk = kind, v = helper.unique("v"), n = 42 }
        client:put_item { TableName = name, Item = item }
        local stats = proxy:stop()
        assert.are.equal(1, stats[kind])
        assert.are.equal(2, stats.requests)
        assert.are.same(item, direct:get_item { TableName = name, Key = { pk = kind }, ConsistentRead = true }.Item)
      end)
      proxy:stop()
      if not ok then error(err, 0) end
    end)
  end
end)
