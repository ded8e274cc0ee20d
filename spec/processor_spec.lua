-- ddb.processor against DynamoDB Local: exactly-once processing, isolated
-- failures, carried upvalues, timeouts, leases across processes, kills.
local ddb = require("ddb")
local tables = require("ddb.tables")
local helper = require("helper")

local client = helper.client()

local function records_table()
  local name = helper.unique("Records")
  tables.ensure(client, tables.records(name, "Processed"))
  return name
end

local function counter_table()
  local name = helper.unique("Counts")
  client:create_table {
    TableName = name, BillingMode = "PAY_PER_REQUEST",
    AttributeDefinitions = { { AttributeName = "id", AttributeType = "S" } },
    KeySchema = { { AttributeName = "id", KeyType = "HASH" } },
  }
  return name
end

local function load(name, n, extra)
  local items = {}
  for i = 0, n - 1 do
    local item = { AccountId = string.format("acct-%03d", i % 50), RunTime = os.date("!%Y-%m-%dT%H:%M:%SZ", 1767225600 + i), Processed = 0, i = i }
    for k, v in pairs(extra or {}) do item[k] = v end
    items[#items + 1] = item
  end
  client:put_all(name, items)
end

local function counts(name)
  local by_key = {}
  for _, item in ipairs(client:scan_all { TableName = name, ConsistentRead = true }) do by_key[item.id] = item.calls end
  return by_key
end

local function states(name)
  local processed, unprocessed = {}, {}
  for _, item in ipairs(client:scan_all { TableName = name, ConsistentRead = true }) do
    local key = item.AccountId .. "|" .. item.RunTime
    if item.AccountId == "ddbrun#coordination" then   -- the leases, not a record
    elseif item.Processed == 1 then processed[key] = item else unprocessed[key] = item end
  end
  return processed, unprocessed
end

local function size(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

local function processor(name, opts)
  opts = opts or {}
  opts.table, opts.index, opts.progress, opts.summary = name, "Processed", false, false
  return ddb.processor(opts)
end

describe("ddb.processor", function()
  it("runs every record's callback exactly once and marks it (3,000 records, 8 workers)", function()
    local name, counter = records_table(), counter_table()
    load(name, 3000)
    local errors, stats = processor(name, { max_workers = 8 }):process_all(function(record, ctx)
      ctx.client:update_item { TableName = counter, Key = { id = record.AccountId .. "|" .. record.RunTime },
        UpdateExpression = "ADD calls :one", ExpressionAttributeValues = { [":one"] = 1 } }
    end)
    assert.are.same({}, errors)
    assert.are.equal(3000, stats.processed)
    assert.are.equal(0, stats.failed)
    assert.are.equal(8, stats.workers)
    local c = counts(counter)
    assert.are.equal(3000, size(c))
    for key, calls in pairs(c) do assert.are.equal(1, calls, key) end
    local processed, unprocessed = states(name)
    assert.are.equal(3000, size(processed))
    assert.are.equal(0, size(unprocessed))
    -- a second run finds nothing to do
    local _, again = processor(name):process_all(function() error("must not run") end)
    assert.are.equal(0, again.processed + again.failed + again.skipped)
  end)

  it("passes every attribute and ctx.worker, ctx.records", function()
    local name = records_table()
    client:put_item { TableName = name, Item = { AccountId = "A", RunTime = "2026-01-01T00:00:00Z", Processed = 0,
      DocumentId = "DOC1", Tags = ddb.set { "x" }, Nested = { a = { 1, 2 } } } }
    local errors = processor(name, { max_workers = 3 }):process_all(function(record, ctx)
      assert(record.DocumentId == "DOC1" and record.Nested.a[2] == 2 and ddb.type_of(record.Tags) == "SS", "record")
      assert(ctx.worker >= 1 and ctx.worker <= 3, "worker number")
      assert(ctx.records:get_item(record.AccountId, record.RunTime).Processed == 0, "ctx.records")
    end)
    assert.are.same({}, errors)
  end)

  it("reports failing callbacks with their messages and leaves them unprocessed", function()
    local name = records_table()
    load(name, 200)
    local errors, stats = processor(name, { max_workers = 4, callback_retries = 1 }):process_all(function(record)
      if record.i % 10 == 0 then error("record " .. record.i .. " is bad") end
      if record.i % 10 == 1 then return false, "declined " .. record.i end
    end)
    assert.are.equal(160, stats.processed)
    assert.are.equal(40, stats.failed)
    assert.are.equal(40, #errors)
    local processed, unprocessed = states(name)
    assert.are.equal(160, size(processed))
    assert.are.equal(40, size(unprocessed))
    for _, e in ipairs(errors) do
      assert.are.equal("callback", e.kind)
      assert.are.equal(2, e.attempts)
      assert.is_not_nil(unprocessed[e.AccountId .. "|" .. e.RunTime])
      local i = unprocessed[e.AccountId .. "|" .. e.RunTime].i
      if i % 10 == 0 then
        assert.truthy(e.error:find("processor_spec.lua:%d+: record " .. i .. " is bad\nstack traceback:"), e.error)
      else
        assert.are.equal("declined " .. i, e.error)
      end
    end
  end)

  it("counts a timeout even when the callback catches it", function()
    local name = records_table()
    load(name, 1)
    local errors = processor(name, { timeout_ms = 100 }):process_all(function()
      pcall(function() while true do end end)
    end)
    assert.are.equal(1, #errors)
    assert.are.equal("timeout", errors[1].kind)
    local _, unprocessed = states(name)
    assert.are.equal(1, size(unprocessed))
  end)

  it("reports a failure reason whose __tostring raises, without crashing", function()
    local name = records_table()
    load(name, 1)
    local errors = processor(name):process_all(function()
      return nil, setmetatable({}, { __tostring = function() error("no string for you") end })
    end)
    assert.are.equal(1, #errors)
    assert.truthy(errors[1].error:find("no string for you", 1, true), errors[1].error)
  end)

  it("stops a callback that never returns with the timeout", function()
    local name = records_table()
    load(name, 3)
    local errors, stats = processor(name, { max_workers = 2, timeout_ms = 200 }):process_all(function(record)
      if record.i == 1 then while true do end end
    end)
    assert.are.equal(2, stats.processed)
    assert.are.equal(1, #errors)
    assert.are.equal("timeout", errors[1].kind)
    assert.truthy(errors[1].error:find("callback timed out after 200 ms", 1, true))
    local _, unprocessed = states(name)
    assert.are.equal(1, size(unprocessed))
  end)

  describe("carries the callback into each worker", function()
    local name
    before_each(function()
      name = records_table()
      load(name, 20)
    end)

    it("copies plain data, re-requires modules and carries helper functions", function()
      local cjson = require("cjson")
      local mymodule = require("fixtures.mymodule")
      local config = { factor = 3, names = { "a", "b" }, flag = true, label = "x\0y" }
      local function triple(n) return n * config.factor end
      local helpers = { double = function(n) return n * 2 end }
      local seen = counter_table()
      local errors = processor(name, { max_workers = 4 }):process_all(function(record, ctx)
        assert(math.type(config.factor) == "integer", "integers stay integers")
        assert(config.label == "x\0y" and config.names[2] == "b" and config.flag, "data copied")
        assert(triple(record.i) == record.i * 3 and helpers.double(2) == 4, "helpers carried")
        assert(mymodule == package.loaded["fixtures.mymodule"], "the worker's own module")
        assert(mymodule.label("r") == "mod:r", "module works")
        assert(ddb == package.loaded.ddb, "ddb re-required")
        ctx.client:put_item { TableName = seen, Item = { id = record.AccountId .. record.RunTime, json = cjson.encode({ i = record.i }) } }
      end)
      assert.are.same({}, errors)
      assert.are.equal(20, #client:scan_all { TableName = seen })
    end)

    it("gives each worker its own globals", function()
      local errors = processor(name, { max_workers = 2 }):process_all(function(record, ctx)
        SEEN = (SEEN or 0) + 1   -- a global of this worker's state only
      end)
      assert.are.same({}, errors)
      assert.is_nil(rawget(_G, "SEEN"))
    end)

    it("refuses a client upvalue by name before any record is touched", function()
      local shared_client = client
      local ok, err = pcall(function()
        return processor(name):process_all(function(record) shared_client:list_tables {} end)
      end)
      assert.is_false(ok)
      assert.truthy(tostring(err):find("upvalue 'shared_client' of callback", 1, true), tostring(err))
      assert.truthy(tostring(err):find("ddb.Client", 1, true), tostring(err))
      local processed = states(name)
      assert.are.equal(0, size(processed))
    end)

    it("refuses a coroutine and an open file by name", function()
      local co = coroutine.create(function() end)
      local ok, err = pcall(function() return processor(name):process_all(function() coroutine.resume(co) end) end)
      assert.is_false(ok)
      assert.truthy(tostring(err):find("upvalue 'co' of callback", 1, true), tostring(err))
      local f = io.tmpfile()
      ok, err = pcall(function() return processor(name):process_all(function() f:write("x") end) end)
      assert.is_false(ok)
      assert.truthy(tostring(err):find("upvalue 'f' of callback", 1, true), tostring(err))
      f:close()
    end)
  end)

  it("validates options by name", function()
    local ok, err = pcall(ddb.processor, { max_workers = 0 })
    assert.is_false(ok)
    assert.truthy(err:find("option 'max_workers' must be a whole number from 1 to 256", 1, true))
    ok, err = pcall(ddb.processor, { max_wrokers = 2 })
    assert.is_false(ok)
    assert.truthy(err:find("unknown option 'max_wrokers'", 1, true))
  end)

  it("raises ResourceNotFoundException for a missing table", function()
    local ok, err = pcall(function() return processor("NoSuchTable"):process_all(function() end) end)
    assert.is_false(ok)
    assert.are.equal("ResourceNotFoundException", err.code)
  end)
end)

describe("ddb.processor across processes", function()
  local worker_script = helper.shell_quote(helper.root .. "/spec/fixtures/counting_worker.lua")

  -- Starts the counting worker in the background; returns its output file and pid file.
  local function spawn(env)
    local out = os.tmpname()
    local assignments = {}
    for k, v in pairs(env) do assignments[#assignments + 1] = k .. "=" .. helper.shell_quote(v) end
    local pidfile = out .. ".pid"
    os.execute(string.format("(env %s %s --no-env %s >%s 2>&1 & echo $! >%s)", table.concat(assignments, " "),
      helper.shell_quote(helper.ddbrun), worker_script, out, pidfile))
    return { out = out, pid = helper.read_file(pidfile):match("%d+") }
  end

  local function wait_for(p, timeout_s)
    local deadline = helper.now() + timeout_s
    while helper.now() < deadline do
      if not os.execute("kill -0 " .. p.pid .. " 2>/dev/null") then return helper.read_file(p.out) end
      os.execute("sleep 0.1")
    end
    os.execute("kill -9 " .. p.pid)
    error("process did not finish in " .. timeout_s .. " s")
  end

  it("three processes with leases on 10,000 records run each callback exactly once", function()
    local name, counter = records_table(), counter_table()
    load(name, 10000)
    local env = { RECORDS_TABLE = name, COUNTER_TABLE = counter, LEASE_MS = "60000", WORKERS = "4" }
    local procs = { spawn(env), spawn(env), spawn(env) }
    local total_processed, total_skipped = 0, 0
    for _, p in ipairs(procs) do
      local out = wait_for(p, 240)
      local processed, skipped, errs = out:match("RESULT (%d+) (%d+) (%d+)")
      assert.is_not_nil(processed, out)
      assert.are.equal("0", errs, out)
      total_processed, total_skipped = total_processed + tonumber(processed), total_skipped + tonumber(skipped)
    end
    assert.are.equal(10000, total_processed)
    local c = counts(counter)
    assert.are.equal(10000, size(c))
    for key, calls in pairs(c) do assert.are.equal(1, calls, key) end
    local processed, unprocessed = states(name)
    assert.are.equal(10000, size(processed))
    assert.are.equal(0, size(unprocessed))
    for _, item in pairs(processed) do assert.is_nil(item.LeaseOwner) end
  end)

  it("a process killed mid-run marks nothing unfinished; a later run completes the rest", function()
    local name, counter = records_table(), counter_table()
    load(name, 400)
    local env = { RECORDS_TABLE = name, COUNTER_TABLE = counter, LEASE_MS = "1500", WORKERS = "4", WORK_MS = "20" }
    local p = spawn(env)
    os.execute("sleep 1")
    os.execute("kill -9 " .. p.pid)
    wait_for(p, 10)
    local processed = states(name)
    local c = counts(counter)
    assert.is_true(size(processed) > 0 and size(processed) < 400, "killed mid-run: " .. size(processed))
    for key in pairs(processed) do assert.is_not_nil(c[key], "marked without a finished callback: " .. key) end
    os.execute("sleep 1.6")   -- the dead process's leases expire
    env.WORK_MS = "0"
    local out = wait_for(spawn(env), 120)
    assert.truthy(out:find("RESULT %d+ 0 0"), out)
    local done, left = states(name)
    assert.are.equal(400, size(done))
    assert.are.equal(0, size(left))
    for key, calls in pairs(counts(counter)) do assert.is_true(calls >= 1 and calls <= 2, key) end
  end)

  it("Ctrl-C stops taking records, finishes those in flight and exits 130", function()
    local name, counter = records_table(), counter_table()
    load(name, 400)
    local p = spawn { RECORDS_TABLE = name, COUNTER_TABLE = counter, WORKERS = "2", WORK_MS = "20" }
    os.execute("sleep 1")
    os.execute("kill -INT " .. p.pid)
    local out = wait_for(p, 30)
    assert.truthy(out:find("stopping: finishing the records in progress", 1, true), out)
    assert.truthy(out:find("RESULT %d+ 0 0 true"), out)
    local processed = states(name)
    local c = counts(counter)
    assert.is_true(size(processed) < 400)
    for key in pairs(processed) do assert.are.equal(1, c[key], key) end
    -- every counted callback was marked: in-flight work finished and was recorded
    for key in pairs(c) do assert.is_not_nil(processed[key], "callback ran but not marked: " .. key) end
  end)

  it("a second Ctrl-C aborts at once, marking nothing unfinished", function()
    local name, counter = records_table(), counter_table()
    load(name, 400)
    local p = spawn { RECORDS_TABLE = name, COUNTER_TABLE = counter, WORKERS = "2", WORK_MS = "300" }
    os.execute("sleep 1")
    os.execute("kill -INT " .. p.pid .. "; sleep 0.05; kill -INT " .. p.pid)
    local out = wait_for(p, 10)
    assert.truthy(out:find("aborted; records whose callbacks had not finished were not marked", 1, true), out)
    assert.is_nil(out:find("RESULT", 1, true))
    local processed = states(name)
    local c = counts(counter)
    for key in pairs(processed) do assert.are.equal(1, c[key], key) end
  end)

  it("draws a live progress line when asked", function()
    local name, counter = records_table(), counter_table()
    load(name, 100)
    local out = wait_for(spawn { RECORDS_TABLE = name, COUNTER_TABLE = counter, WORKERS = "2", WORK_MS = "10",
                                 PROCESSOR_PROGRESS = "1" }, 60)
    assert.truthy(out:find("\r\027%[K%d+ processed · %d+ skipped · %d+ failed · %d+ rec/s · [%d.]+ s"), out)
    assert.truthy(out:find("ddbrun: processed 100, skipped 0, failed 0 in", 1, true), out)
  end)
end)
