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
    local is_record = item.AccountId ~= "ddbrun#coordination"   -- not the leases
    if is_record and item.Processed == 1 then processed[key] = item
    elseif is_record then unprocessed[key] = item end
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

  describe("when the GSI query fails", function()
    -- Runs 30 records in pages of 10 through a proxy that answers Query with
    -- HTTP 500 after the first request, at most max_faults times (nil: always).
    local function run_through_proxy(max_retries, max_faults, callback)
      local name = records_table()
      load(name, 30)
      -- --after 2: the DescribeTable that reads the layout, and the first page
      local proxy = helper.start_proxy("--only Query --faults 500 --rate 1 --after 2" ..
        (max_faults and (" --max-faults " .. max_faults) or ""), 120)
      local p = processor(name, { client = ddb.client { endpoint = proxy.endpoint }, max_workers = 1, page_size = 10,
                                  max_retries = max_retries, backoff_base_ms = 1, backoff_cap_ms = 5 })
      local results = table.pack(pcall(p.process_all, p, callback))
      return results, proxy:stop(), name
    end

    it("retries it with the processor's max_retries, not the client's", function()
      local results, proxy_stats = run_through_proxy(4, 4, function() end)
      assert.is_true(results[1], tostring(results[2]))
      assert.are.same({}, results[2])
      assert.are.equal(30, results[3].processed)
      assert.are.equal(4, proxy_stats["500"])
    end)

    it("raises a ddb.Error that carries the errors and stats of what was done", function()
      local calls = 0
      local results, proxy_stats, name = run_through_proxy(3, nil, function()
        calls = calls + 1   -- one worker: its first record fails
        if calls == 1 then error("first fails") end
      end)
      assert.is_false(results[1])
      local err = results[2]
      assert.are.equal("InternalServerError", err.code)
      assert.are.equal(4, err.attempts)
      assert.are.equal(5, proxy_stats.only_requests)   -- the first page, then 1 + 3 retries
      assert.are.equal(9, err.stats.processed)
      assert.are.equal(1, err.stats.failed)
      assert.are.equal(1, #err.errors)
      assert.are.equal("callback", err.errors[1].kind)
      assert.truthy(err.errors[1].error:find("first fails", 1, true))
      local processed = states(name)
      assert.are.equal(9, size(processed))
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

  it("names a malformed PROCESSOR_SUMMARY, PROCESSOR_PROGRESS or summary option", function()
    local code = helper.shell_quote("require('ddb').processor()")
    local _, err, status = helper.run("--no-env -e " .. code, { env = { PROCESSOR_SUMMARY = "yaml" } })
    assert.are.equal(1, status)
    assert.truthy(err:find("ddb.processor: PROCESSOR_SUMMARY must be on, off or json, not 'yaml'\n", 1, true), err)
    _, err, status = helper.run("--no-env -e " .. code, { env = { PROCESSOR_PROGRESS = "sometimes" } })
    assert.are.equal(1, status)
    assert.truthy(err:find("ddb.processor: PROCESSOR_PROGRESS must be auto, on, off or log, not 'sometimes'\n", 1, true), err)
    local ok, e = pcall(ddb.processor, { summary = "xml" })
    assert.is_false(ok)
    assert.truthy(e:find("ddb.processor: option 'summary' must be true, false or \"json\"", 1, true), e)
    assert.are.equal("json", ddb.processor({ summary = "json" }):options().summary)
    assert.are.equal("log", ddb.processor({ progress = "log" }):options().progress)
  end)

  it("raises ResourceNotFoundException for a missing table", function()
    local ok, err = pcall(function() return processor("NoSuchTable"):process_all(function() end) end)
    assert.is_false(ok)
    assert.are.equal("ResourceNotFoundException", err.code)
  end)
end)

describe("ddb.processor across processes", function()
  local worker_script = helper.root .. "/spec/fixtures/counting_worker.lua"

  -- Starts `ddbrun --no-env script` in the background with env; stdout and
  -- stderr go to separate files. Returns { out, err, pid, base }.
  local function spawn(env, script)
    local base = os.tmpname()
    local assignments = { "SPAWN_ERR=" .. base .. ".err" }   -- a script may read its own stderr
    for k, v in pairs(env) do assignments[#assignments + 1] = k .. "=" .. helper.shell_quote(v) end
    -- sh writes its pid, then execs ddbrun (same pid); the outer shell records the exit code
    os.execute(string.format("(sh -c 'echo $$ >%s.pid; exec \"$@\"' sh env %s %s --no-env %s >%s.out 2>%s.err; echo $? >%s.rc) &",
      base, table.concat(assignments, " "), helper.shell_quote(helper.ddbrun),
      helper.shell_quote(script or worker_script), base, base, base))
    local pid = helper.wait_until(function() return (helper.read_file(base .. ".pid") or ""):match("%d+") end, 30, "the pid file")
    return { base = base, pid = pid, out = base .. ".out", err = base .. ".err" }
  end

  -- Waits for the process to end; returns its stdout, stderr and exit code.
  local function wait_for(p, timeout_s)
    local ok, rc = pcall(helper.wait_until, function()
      return tonumber((helper.read_file(p.base .. ".rc") or ""):match("%d+"))
    end, timeout_s, "the process to end")
    if not ok then
      os.execute("kill -9 " .. p.pid .. " 2>/dev/null")
      error(rc)
    end
    local out, err = helper.read_file(p.out), helper.read_file(p.err)
    for _, suffix in ipairs { "", ".pid", ".out", ".err", ".rc" } do os.remove(p.base .. suffix) end
    return out, err, rc
  end

  -- Waits until at least n callbacks counted themselves in the counter table.
  local function wait_for_callbacks(counter, n)
    helper.wait_until(function() return #client:scan_all { TableName = counter } >= n end, 60, n .. " callbacks")
  end

  local function wait_for_line(p, text)
    helper.wait_until(function() return (helper.read_file(p.err) or ""):find(text, 1, true) end, 60, "'" .. text .. "'")
  end

  it("three processes with leases on 4,000 records run each callback exactly once", function()
    local name, counter = records_table(), counter_table()
    load(name, 4000)
    local env = { RECORDS_TABLE = name, COUNTER_TABLE = counter, LEASE_MS = "60000", WORKERS = "4" }
    local procs = { spawn(env), spawn(env), spawn(env) }
    local total_processed, total_skipped = 0, 0
    for _, p in ipairs(procs) do
      local out, err = wait_for(p, 900)   -- a deadline for a hang, generous for a sanitizer build on a busy box
      local processed, skipped, errs = out:match("RESULT (%d+) (%d+) (%d+)")
      assert.is_not_nil(processed, out .. err)
      assert.are.equal("0", errs, out)
      total_processed, total_skipped = total_processed + tonumber(processed), total_skipped + tonumber(skipped)
    end
    assert.are.equal(4000, total_processed)
    local c = counts(counter)
    assert.are.equal(4000, size(c))
    for key, calls in pairs(c) do assert.are.equal(1, calls, key) end
    local processed, unprocessed = states(name)
    assert.are.equal(4000, size(processed))
    assert.are.equal(0, size(unprocessed))
    for _, item in pairs(processed) do assert.is_nil(item.LeaseOwner) end
  end)

  it("a process killed mid-run marks nothing unfinished; a later run completes the rest", function()
    local name, counter = records_table(), counter_table()
    load(name, 400)
    local env = { RECORDS_TABLE = name, COUNTER_TABLE = counter, LEASE_MS = "1500", WORKERS = "4", WORK_MS = "20" }
    local p = spawn(env)
    wait_for_callbacks(counter, 8)
    os.execute("kill -9 " .. p.pid)
    wait_for(p, 10)
    local processed, unprocessed = states(name)
    local c = counts(counter)
    assert.is_true(size(processed) > 0 and size(processed) < 400, "killed mid-run: " .. size(processed))
    for key in pairs(processed) do assert.is_not_nil(c[key], "marked without a finished callback: " .. key) end
    -- the dead process's leases expire (LeaseExpires is wall-clock milliseconds)
    local last = 0
    for _, item in pairs(unprocessed) do last = math.max(last, item.LeaseExpires or 0) end
    helper.wait_until(function() return os.time() * 1000 > last + 1000 end, 30, "the leases to expire")
    env.WORK_MS = "0"
    local out, err = wait_for(spawn(env), 120)
    assert.truthy(out:find("RESULT %d+ 0 0"), out .. err)
    local done, left = states(name)
    assert.are.equal(400, size(done))
    assert.are.equal(0, size(left))
    for key, calls in pairs(counts(counter)) do assert.is_true(calls >= 1 and calls <= 2, key) end
  end)

  local function assert_in_flight_work_marked(name, counter)
    local processed = states(name)
    local c = counts(counter)
    assert.is_true(size(processed) < 400)
    for key in pairs(processed) do assert.are.equal(1, c[key], key) end
    -- every counted callback was marked: in-flight work finished and was recorded
    for key in pairs(c) do assert.is_not_nil(processed[key], "callback ran but not marked: " .. key) end
  end

  it("Ctrl-C stops taking records, finishes those in flight and exits 130", function()
    local name, counter = records_table(), counter_table()
    load(name, 400)
    local p = spawn { RECORDS_TABLE = name, COUNTER_TABLE = counter, WORKERS = "2", WORK_MS = "20" }
    wait_for_callbacks(counter, 1)
    os.execute("kill -INT " .. p.pid)
    local out, err, rc = wait_for(p, 60)
    assert.are.equal(130, rc, err)
    assert.truthy(err:find("ddbrun: stopping: finishing the records in progress (press Ctrl-C again to abort)\n", 1, true), err)
    assert.truthy(out:find("RESULT %d+ 0 0 true interrupt"), out)
    assert_in_flight_work_marked(name, counter)
  end)

  it("SIGTERM stops the same way and exits 143", function()
    local name, counter = records_table(), counter_table()
    load(name, 400)
    local p = spawn { RECORDS_TABLE = name, COUNTER_TABLE = counter, WORKERS = "2", WORK_MS = "20" }
    wait_for_callbacks(counter, 1)
    os.execute("kill -TERM " .. p.pid)
    local out, err, rc = wait_for(p, 60)
    assert.are.equal(143, rc, err)
    assert.truthy(err:find("ddbrun: stopping: finishing the records in progress", 1, true), err)
    assert.truthy(out:find("RESULT %d+ 0 0 true terminate"), out)
    assert_in_flight_work_marked(name, counter)
  end)

  it("a second Ctrl-C aborts at once, marking nothing unfinished and keeping what the script printed", function()
    local name, counter = records_table(), counter_table()
    load(name, 400)
    -- callbacks long enough that the drain outlasts a busy box's reaction to the first line
    local p = spawn { RECORDS_TABLE = name, COUNTER_TABLE = counter, WORKERS = "2", WORK_MS = "3000", SAY_BEFORE = "1" }
    wait_for_callbacks(counter, 1)
    os.execute("kill -INT " .. p.pid)
    wait_for_line(p, "stopping:")   -- the first was acknowledged: the second cannot merge with it
    os.execute("kill -INT " .. p.pid)
    local out, err, rc = wait_for(p, 30)
    assert.are.equal(130, rc, err)
    assert.truthy(err:find("\nddbrun: aborted; records whose callbacks had not finished were not marked\n", 1, true), err)
    assert.are.equal("BEFORE\n", out)   -- buffered (stdout is a file), flushed before exiting
    local processed = states(name)
    local c = counts(counter)
    for key in pairs(processed) do assert.are.equal(1, c[key], key) end
  end)

  it("os.exit in a callback stops the run and exits with its code from the main thread", function()
    local name, counter = records_table(), counter_table()
    load(name, 200)
    local script = helper.script([[
      local ddb = require("ddb")
      io.write("BEFORE\n")
      ddb.processor { table = os.getenv("RECORDS_TABLE"), index = "Processed", max_workers = 2 }:process_all(function(record, ctx)
        ctx.client:update_item { TableName = os.getenv("COUNTER_TABLE"), Key = { id = record.AccountId .. "|" .. record.RunTime },
          UpdateExpression = "ADD calls :one", ExpressionAttributeValues = { [":one"] = 1 } }
        if record.i == 5 then pcall(os.exit, 3) end   -- caught, and still the run stops
      end)
      print("AFTER")
    ]])
    local out, err, rc = wait_for(spawn({ RECORDS_TABLE = name, COUNTER_TABLE = counter }, script), 60)
    assert.are.equal(3, rc, err)
    assert.are.equal("BEFORE\n", out)
    assert.truthy(err:find("ddbrun: processed %d+, skipped 0, failed 0 in"), err)
    local processed, unprocessed = states(name)
    assert.is_true(size(unprocessed) > 0)
    for key, item in pairs(unprocessed) do
      if item.i == 5 then assert.are.equal(1, counts(counter)[key]) end
    end
    for key in pairs(counts(counter)) do
      local record = processed[key]
      assert.is_true(record ~= nil or unprocessed[key].i == 5, "callback finished but not marked: " .. key)
    end
  end)

  it("PROCESSOR_SUMMARY=json prints the summary as one JSON line with every field", function()
    local cjson = require("cjson")
    local name = records_table()
    load(name, 20)
    local script = helper.script([[
      local ddb = require("ddb")
      local summary = os.getenv("SUMMARY_OPTION") == "json" and "json" or nil
      local errors, stats = ddb.processor { table = os.getenv("RECORDS_TABLE"), index = "Processed", max_workers = 2,
                                            summary = summary }:process_all(function(record)
        if record.i % 10 == 0 then error("bad record " .. record.i) end
        if record.i == 1 then return false, "declined" end
      end)
      os.exit(stats.failed == 0)   -- the README's idiom: non-zero when any record failed
    ]])
    local _, err, rc = wait_for(spawn({ RECORDS_TABLE = name, PROCESSOR_SUMMARY = "json" }, script), 60)
    assert.are.equal(1, rc, err)
    local line = err:match("^(%b{})\n$")
    assert.is_not_nil(line, err)
    local s = cjson.decode(line)
    local keys = {}
    for k in pairs(s) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.are.same({ "consumed_rcu", "consumed_wcu", "elapsed_s", "error", "errors", "errors_lost", "failed",
                      "interrupted", "parked", "processed", "records_per_s", "skipped", "stopped" }, keys)
    assert.are.equal(17, s.processed)
    assert.are.equal(3, s.failed)
    assert.are.equal(0, s.skipped)
    assert.are.equal(0, s.parked)
    assert.are.equal(0, s.errors_lost)
    assert.is_true(s.elapsed_s > 0)
    -- records/s = processed / elapsed, within elapsed_s's rounding to the millisecond
    assert.is_true(math.abs(s.records_per_s * s.elapsed_s - 17) <= s.records_per_s * 0.0006 + 0.01, line)
    assert.are.equal(17 * 3, s.consumed_wcu)   -- one conditional mark each (table and index)
    assert.is_true(s.consumed_rcu > 0)
    assert.is_false(s.interrupted)
    assert.are.equal(cjson.null, s.stopped)
    assert.are.equal(cjson.null, s.error)
    assert.are.equal(1, #s.errors)
    assert.are.equal("callback", s.errors[1].kind)
    assert.are.equal(3, s.errors[1].count)
    assert.is_true(s.errors[1].message == "declined" or s.errors[1].message:find(": bad record %d+$") ~= nil, s.errors[1].message)
    -- the option says the same; the failed records stay unprocessed, so they fail again
    local _, err2, rc2 = wait_for(spawn({ RECORDS_TABLE = name, SUMMARY_OPTION = "json" }, script), 60)
    local again = cjson.decode((assert(err2:match("^(%b{})\n$"), err2)))
    assert.are.equal(1, rc2, err2)
    assert.are.equal(0, again.processed)
    assert.are.equal(3, again.failed)
  end)

  it("PROCESSOR_PROGRESS=log prints plain progress lines, never redrawing", function()
    local name = records_table()
    load(name, 20)
    local script = helper.script([[
      local ddb = require("ddb")
      local err_file = os.getenv("SPAWN_ERR")
      ddb.processor { table = os.getenv("RECORDS_TABLE"), index = "Processed", max_workers = 2 }:process_all(function(record)
        if record.i ~= 0 then return end
        -- hold one record until a progress line was written, so the run outlasts an interval
        for _ = 1, 600 do
          local f = io.open(err_file)
          local text = f and f:read("a") or ""
          if f then f:close() end
          if text:find("ddbrun: progress: ", 1, true) then return end
          os.execute("sleep 0.05")
        end
        error("no progress line")
      end)
    ]])
    local p = spawn({ RECORDS_TABLE = name, PROCESSOR_PROGRESS = "log", PROCESSOR_PROGRESS_INTERVAL_MS = "100" }, script)
    local _, err, rc = wait_for(p, 60)
    assert.are.equal(0, rc, err)
    assert.truthy(err:find("^ddbrun: progress: %d+ processed, %d+ skipped, %d+ failed, %d+ records/s, [%d.]+ s\n"), err)
    assert.is_nil(err:find("\r", 1, true))
    assert.truthy(err:find("\nddbrun: processed 20, skipped 0, failed 0 in", 1, true), err)
  end)

  it("draws a live progress line when asked", function()
    local name, counter = records_table(), counter_table()
    load(name, 100)
    local out, err = wait_for(spawn { RECORDS_TABLE = name, COUNTER_TABLE = counter, WORKERS = "2", WORK_MS = "10",
                                      PROCESSOR_PROGRESS = "1" }, 60)
    assert.truthy(err:find("\r\027%[K%d+ processed · %d+ skipped · %d+ failed · %d+ rec/s · [%d.]+ s"), err)
    assert.truthy(err:find("ddbrun: processed 100, skipped 0, failed 0 in", 1, true), err)
    assert.truthy(out:find("RESULT 100 0 0 false nil"), out)
  end)
end)
