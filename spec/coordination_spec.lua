-- Many ddbrun processes on one Records table (lease_ms): exactly once, cost
-- metered by a proxy, clock skew, long callbacks, kill -9, SIGSTOP, a joiner,
-- poison records, a bounded failure report, SIGTERM drains, one protocol per
-- table. Every wait is for an event (a line, a file, a table state).
local ddb = require("ddb")
local tables = require("ddb.tables")
local helper = require("helper")

local client = helper.client()
local worker_script = helper.root .. "/spec/fixtures/lease_worker.lua"
local FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
local COORD = "ddbrun#coordination"

-- shards: nil for the seed's layout, else the sharded index of create_tables --shards
local function records_table(shards)
  local name = helper.unique("Coord")
  tables.ensure(client, tables.records(name, "Processed", shards))
  return name
end

local function load(name, n, prefix, shards)
  local items = {}
  for i = 0, n - 1 do
    local item = { AccountId = string.format("%s-%03d", prefix or "acct", i % 97),
                   RunTime = os.date("!%Y-%m-%dT%H:%M:%SZ", 1767225600 + i), Processed = 0 }
    if shards then item[tables.shard_attribute(shards)] = ddb.shard_of(item.AccountId, item.RunTime, shards) end
    items[#items + 1] = item
  end
  client:put_all(name, items)
end

local function count_states(name)
  local processed, other = 0, 0
  for _, item in ipairs(client:scan_all { TableName = name, ConsistentRead = true }) do
    if item.AccountId ~= COORD then
      if item.Processed == 1 then processed = processed + 1 else other = other + 1 end
    end
  end
  return processed, other
end

local function lease_items(name)
  return client:query_all { TableName = name, KeyConditionExpression = "AccountId = :a",
                            ExpressionAttributeValues = { [":a"] = COORD }, ConsistentRead = true }
end

-- helper.wait_until with the state's name first, as this file's calls read.
local function wait_until(what, cond, timeout_s)
  return helper.wait_until(cond, timeout_s, what)
end

local function spawn(env, prefix)
  local out = os.tmpname()
  local assignments = {}
  for k, v in pairs(env) do assignments[#assignments + 1] = k .. "=" .. helper.shell_quote(v) end
  local pidfile = out .. ".pid"
  os.execute(string.format("(env %s %s %s --no-env %s >%s 2>&1 & echo $! >%s)", table.concat(assignments, " "),
    prefix or "", helper.shell_quote(helper.ddbrun), helper.shell_quote(worker_script), out, pidfile))
  local p = { out = out, pid = helper.read_file(pidfile):match("%d+") }
  os.remove(pidfile)
  return p
end

local function alive(p)
  return os.execute("kill -0 " .. p.pid .. " 2>/dev/null") == true
end

local function finish(p, timeout_s)
  wait_until("process " .. p.pid .. " to exit", function() return not alive(p) end, timeout_s)
  local text = helper.read_file(p.out) or ""
  os.remove(p.out)
  return text
end

local function result_of(text)
  local r = {}
  local line = text:match("RESULT ([^\n]+)")
  assert(line, "no RESULT line in:\n" .. text)
  for k, v in line:gmatch("([%w_]+)=(%S+)") do r[k] = tonumber(v) or v end
  r.lease_errors = tonumber(text:match("ERRORS lease (%d+)") or "0")
  return r
end

-- Reads the callback logs: per key, the list of { start, stop } runs.
local function runs_by_key(logs, killed_at)
  local runs = {}
  for _, path in ipairs(logs) do
    local open = {}
    for line in io.lines(path) do
      local kind, key, t = line:match("^(%a) (%S+) ([%d.]+)$")
      t = tonumber(t)
      if kind == "B" then
        open[key] = t
      elseif kind == "E" then
        runs[key] = runs[key] or {}
        table.insert(runs[key], { open[key], t })
        open[key] = nil
      end
    end
    for key, t in pairs(open) do   -- begun, never ended: ran until its process died or gave up
      runs[key] = runs[key] or {}
      table.insert(runs[key], { t, killed_at or math.huge, unfinished = true })
    end
  end
  return runs
end

local function size(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

local function assert_never_concurrent(runs)
  for key, list in pairs(runs) do
    for i = 1, #list do
      for j = i + 1, #list do
        local a, b = list[i], list[j]
        assert.is_false(a[1] < b[2] and b[1] < a[2],
          string.format("%s ran concurrently: [%.2f, %.2f] and [%.2f, %.2f]", key, a[1], a[2], b[1], b[2]))
      end
    end
  end
end

local function assert_exactly_once(runs, n)
  assert.are.equal(n, size(runs))
  for key, list in pairs(runs) do assert.are.equal(1, #list, key .. " ran " .. #list .. " times") end
end

local function env_for(name, log, extra)
  local env = { RECORDS_TABLE = name, LOG = log, LEASE_MS = "1500", WORKERS = "4" }
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

local function lines_in(path, pattern)
  local text = helper.read_file(path) or ""
  local n = 0
  for _ in text:gmatch(pattern) do n = n + 1 end
  return n
end

-- procs processes share n records (lease 30 s) through the metering proxy:
-- each callback once, all processed, at most 3.3 WCU per record as metered.
local function metered_run(procs_count, n, shards)
  local name = records_table(shards)
  load(name, n, nil, shards)
  local meter = helper.start_tool("meter --upstream " .. helper.upstream_port)
  local procs, logs = {}, {}
  for i = 1, procs_count do
    logs[i] = os.tmpname()
    procs[i] = spawn(env_for(name, logs[i], { LEASE_MS = "30000", AWS_ENDPOINT_URL_DYNAMODB = meter.endpoint }))
  end
  local results = {}
  for i, p in ipairs(procs) do results[i] = result_of(finish(p, 600)) end
  local stats = meter:stop()
  local processed, wcu, lease_wcu = 0, 0, 0
  for _, r in ipairs(results) do
    processed = processed + r.processed
    wcu, lease_wcu = wcu + r.wcu, lease_wcu + r.lease_wcu
    assert.are.equal(0, r.errors)
  end
  assert.are.equal(n, processed)
  assert_exactly_once(runs_by_key(logs), n)
  for _, log in ipairs(logs) do os.remove(log) end
  assert.are.same({ n, 0 }, { count_states(name) })
  local requests, metered_wcu, metered_rcu, unmetered =
    stats:match("meter " .. name:gsub("%p", "%%%0") .. " requests (%d+) wcu ([%d.]+) rcu ([%d.]+) unmetered (%d+)")
  assert.is_not_nil(requests, stats)
  assert.are.equal("0", unmetered)
  print(string.format("\n  %d x %d records%s: %.3f WCU/record metered (%.3f by ddbrun's stats, %.1f WCU of leases), "
    .. "%.4f RCU/record", procs_count, n // procs_count, shards and (" on " .. shards .. " shards") or "",
    metered_wcu / n, wcu / n, lease_wcu, metered_rcu / n))
  assert.is_true(tonumber(metered_wcu) / n <= 3.3, "WCU per record: " .. metered_wcu / n)
  -- ddbrun's own sum matches, but for requests it wrote twice (a kept-alive connection lost
  -- the first answer): the server billed both, the client saw one
  assert.is_true(wcu <= tonumber(metered_wcu) + 0.5 and wcu >= tonumber(metered_wcu) * 0.99,
    "ddbrun's stats " .. wcu .. " vs metered " .. metered_wcu)
end

describe("coordination across processes (lease_ms)", function()
  it("4 processes x 4,000 records: each callback once, all processed, at most 3.3 WCU per record (metered)", function()
    metered_run(4, 16000)
  end)

  it("3 processes x 2,000 records on a --shards 16 table: each callback once, at most 3.3 WCU per record", function()
    metered_run(3, 6000, 16)
  end)

  describe("clock skew (libfaketime, one machine 90 s off)", function()
    for _, skew in ipairs { "+90s", "-90s" } do
      it("2 processes, one at " .. skew .. ": no callback runs twice", function()
        if (os.getenv("DDBRUN_BUILD") or ""):find("san") then
          print("\n  skipped under the sanitizers: libfaketime is an LD_PRELOAD library and ASan must be loaded first")
          return pending("libfaketime cannot be preloaded before the sanitizer runtime")
        end
        assert.is_not_nil(io.open(FAKETIME_LIB), "install Debian's faketime (scripts/install_deps.sh)")
        local name = records_table()
        load(name, 240)
        local logs = { os.tmpname(), os.tmpname() }
        local a = spawn(env_for(name, logs[1], { LEASE_MS = "3000", WORK_MS = "150" }),
          "LD_PRELOAD=" .. FAKETIME_LIB .. " FAKETIME=" .. skew .. " DONT_FAKE_MONOTONIC=1")
        local b = spawn(env_for(name, logs[2], { LEASE_MS = "3000", WORK_MS = "150" }))
        local ra, rb = result_of(finish(a, 300)), result_of(finish(b, 300))
        assert.are.equal(240, ra.processed + rb.processed)
        assert_exactly_once(runs_by_key(logs), 240)
        assert.are.same({ 240, 0 }, { count_states(name) })
        print(string.format("\n  skew %s: %d and %d records, 240 callbacks for 240 records", skew, ra.processed, rb.processed))
      end)
    end
  end)

  it("callbacks longer than lease_ms (lease 1.5 s, callbacks 2.5 s, 2 processes): exactly once", function()
    local name = records_table()
    load(name, 16)
    local logs = { os.tmpname(), os.tmpname() }
    local a = spawn(env_for(name, logs[1], { WORK_MS = "2500" }))
    local b = spawn(env_for(name, logs[2], { WORK_MS = "2500" }))
    local ra, rb = result_of(finish(a, 300)), result_of(finish(b, 300))
    assert.are.equal(16, ra.processed + rb.processed)
    assert.are.equal(0, ra.errors + rb.errors)
    assert_exactly_once(runs_by_key(logs), 16)
  end)

  it("kill -9 of 1 of 3: the others take its share over, never concurrently, and finish", function()
    local name = records_table()
    load(name, 1500)
    local logs = { os.tmpname(), os.tmpname(), os.tmpname() }
    local procs = {}
    for i = 1, 3 do procs[i] = spawn(env_for(name, logs[i], { WORK_MS = "40" })) end
    -- kill it while a callback of its runs: stop it, look, and kill it stopped (else go on and retry)
    for _ = 1, 50 do
      wait_until("the victim to finish 20 records and be in a callback", function()
        local ended = lines_in(logs[1], "E ")
        return ended >= 20 and lines_in(logs[1], "B ") > ended
      end, 120)
      os.execute("kill -STOP " .. procs[1].pid)
      if lines_in(logs[1], "B ") > lines_in(logs[1], "E ") then break end
      os.execute("kill -CONT " .. procs[1].pid)
    end
    os.execute("kill -9 " .. procs[1].pid)
    local killed_at = helper.now()
    finish(procs[1], 10)
    local r2, out3 = result_of(finish(procs[2], 300)), finish(procs[3], 300)
    local r3 = result_of(out3)
    local runs = runs_by_key(logs, killed_at)
    assert_never_concurrent(runs)
    assert.are.equal(1500, size(runs))
    assert.are.same({ 1500, 0 }, { count_states(name) })
    -- take-over: the first callback a survivor began, after the kill, on a record the victim had begun
    local first, unfinished = math.huge, 0
    for _, list in pairs(runs) do
      for _, run in ipairs(list) do if run.unfinished then
        unfinished = unfinished + 1
        for _, other in ipairs(list) do if other ~= run then first = math.min(first, other[1]) end end
      end end
    end
    assert.is_true(unfinished >= 1, "the victim had no callback in flight")
    print(string.format("\n  kill -9: survivors processed %d + %d; the victim's %d unfinished records restarted %.2f s "
      .. "after the kill (lease 1.5 s)", r2.processed, r3.processed, unfinished, first - killed_at))
  end)

  it("SIGSTOP for longer than the lease, then SIGCONT: its late marks are refused as kind lease", function()
    local name = records_table()
    load(name, 200)
    local logs = { os.tmpname(), os.tmpname() }
    local a = spawn(env_for(name, logs[1], { WORK_MS = "300", WORKERS = "2" }))
    wait_until("the first process to begin callbacks", function() return lines_in(logs[1], "B ") >= 2 end, 60)
    local b = spawn(env_for(name, logs[2], { WORK_MS = "300", WORKERS = "2" }))
    wait_until("the second to begin callbacks", function() return lines_in(logs[2], "B ") >= 1 end, 60)
    -- stop a while a callback of its runs (a callback may end between the look and the stop: again)
    local in_flight, stopped_at = {}, nil
    for _ = 1, 50 do
      wait_until("a callback of a in flight", function() return lines_in(logs[1], "B ") > lines_in(logs[1], "E ") end, 60)
      os.execute("kill -STOP " .. a.pid)
      stopped_at = helper.now()
      for key, list in pairs(runs_by_key({ logs[1] })) do
        if list[#list].unfinished then in_flight[key] = true end
      end
      if next(in_flight) then break end
      os.execute("kill -CONT " .. a.pid)
    end
    -- a's in-flight records are taken over and run again by b
    wait_until("b to run a's in-flight records", function()
      local runs = runs_by_key({ logs[2] })
      for key in pairs(in_flight) do if not runs[key] or runs[key][1].unfinished then return false end end
      return true
    end, 120)
    wait_until("3 x lease_ms of stop", function() return helper.now() - stopped_at >= 4.5 end, 10)
    os.execute("kill -CONT " .. a.pid)
    local outa, outb = finish(a, 300), finish(b, 300)
    local ra, rb = result_of(outa), result_of(outb)
    assert.is_true(size(in_flight) >= 1)
    assert.is_true(ra.lease_errors >= 1, "a's late marks were not refused")
    local processed = count_states(name)
    if processed ~= 200 and os.getenv("COORD_DEBUG") then
      for _, item in ipairs(client:scan_all { TableName = name, ConsistentRead = true }) do
        if item.AccountId ~= COORD and item.Processed ~= 1 then print("left", item.AccountId .. "|" .. item.RunTime) end
      end
      for _, item in ipairs(lease_items(name)) do print(item.RunTime, item.Owner, item.Counter, item.Swept) end
      print("a log:\n" .. helper.read_file(logs[1]))
      print("b log:\n" .. helper.read_file(logs[2]))
      print("a:\n" .. outa .. "\nb:\n" .. outb)
    end
    assert.are.equal(200, processed)
    assert.are.equal(200, ra.processed + rb.processed)
    print(string.format("\n  SIGSTOP: %d in-flight records taken over, %d late marks refused", size(in_flight), ra.lease_errors))
  end)

  it("a process joining mid-run takes a share of the remaining work", function()
    local name = records_table()
    load(name, 1200)
    local logs = { os.tmpname(), os.tmpname() }
    local a = spawn(env_for(name, logs[1], { WORK_MS = "20", WORKERS = "2" }))
    wait_until("the first process to finish 100 records", function() return lines_in(logs[1], "E ") >= 100 end, 120)
    local b = spawn(env_for(name, logs[2], { WORK_MS = "20", WORKERS = "2" }))
    local ra, rb = result_of(finish(a, 300)), result_of(finish(b, 300))
    assert.are.equal(1200, ra.processed + rb.processed)
    assert.is_true(rb.processed > 100, "the joiner processed " .. rb.processed)
    assert_exactly_once(runs_by_key(logs), 1200)
    print(string.format("\n  joiner: %d records, the first process %d", rb.processed, ra.processed))
  end)

  it("a SIGTERM drains in-flight work and hands the leases back", function()
    local name = records_table()
    load(name, 400)
    local log = os.tmpname()
    local p = spawn(env_for(name, log, { WORK_MS = "200", WORKERS = "2" }))
    wait_until("callbacks to begin", function() return lines_in(log, "B ") >= 2 end, 60)
    os.execute("kill -TERM " .. p.pid)
    local out = finish(p, 60)
    assert.truthy(out:find("stopping: finishing the records in progress", 1, true), out)
    assert.are.equal(0, lines_in(log, "B ") - lines_in(log, "E "))
    for _, item in ipairs(lease_items(name)) do assert.is_nil(item.Owner, item.RunTime) end
  end)

  it("a drain longer than drain_timeout_ms gives up, hands the leases back and says so", function()
    local name = records_table()
    load(name, 40)
    local log = os.tmpname()
    local p = spawn(env_for(name, log, { WORK_MS = "20000", WORKERS = "2", DRAIN_TIMEOUT_MS = "300" }))
    wait_until("callbacks to begin", function() return lines_in(log, "B ") >= 2 end, 60)
    os.execute("kill -TERM " .. p.pid)
    local out = finish(p, 60)
    assert.truthy(out:find("ddbrun: the drain took longer than drain_timeout_ms (300 ms): 2 callbacks still running "
      .. "were given up, their records stay unprocessed", 1, true), out)
    for _, item in ipairs(lease_items(name)) do assert.is_nil(item.Owner, item.RunTime) end
    assert.are.same({ 0, 40 }, { count_states(name) })
  end)
end)

describe("poison records and the failure report", function()
  local function processor(name, opts)
    opts.table, opts.index, opts.progress, opts.summary = name, "Processed", false, false
    return ddb.processor(opts)
  end

  it("a record failing max_failures runs is parked, listed by query_failed, not taken again, requeued", function()
    local name = records_table()
    local records = ddb.records { client = client, table = name, index = "Processed" }
    load(name, 5)
    local poison = "acct-002"
    local function run()
      local errors, stats = processor(name, { max_failures = 3, lease_ms = 3000, max_workers = 2 }):process_all(
        function(record)
          if record.AccountId == "acct-002" then error("poisoned") end
        end)
      return errors, stats
    end
    for i = 1, 3 do
      local errors, stats = run()
      assert.are.equal(i == 1 and 4 or 0, stats.processed)
      assert.are.equal(1, stats.failed)
      assert.are.equal(i == 3 and 1 or 0, stats.parked)
      assert.are.equal(poison, errors[1].AccountId)
    end
    local failed = records:query_failed()
    assert.are.equal(1, #failed)
    assert.are.equal(poison, failed[1].AccountId)
    assert.are.equal(2, failed[1].Processed)
    assert.are.equal(3, failed[1].Failures)
    assert.truthy(failed[1].LastError:find("poisoned", 1, true))
    assert.are.same({}, records:query_unprocessed())
    local _, stats = run()
    assert.are.same({ 0, 0 }, { stats.processed, stats.failed })   -- not taken again
    assert.is_true(records:requeue(poison, failed[1].RunTime))
    assert.is_false(records:requeue(poison, failed[1].RunTime))
    assert.are.same({}, records:query_failed())
    local item = records:get_item(poison, failed[1].RunTime)
    assert.are.equal(0, item.Processed)
    assert.is_nil(item.Failures)
    _, stats = run()
    assert.are.equal(1, stats.failed)   -- taken again after requeue
  end)

  it("30,000 always-failing records: stats.failed counts all, errors keeps max_errors, errors_file has every line", function()
    local name = records_table()
    load(name, 30000)
    local errors_file = os.tmpname()
    local out = finish(spawn { RECORDS_TABLE = name, WORKERS = "8", FAIL = "all", MAX_ERRORS = "1000",
                               ERRORS_FILE = errors_file }, 600)
    local r = result_of(out)
    assert.are.equal(30000, r.failed)
    assert.are.equal(1000, r.errors)
    assert.are.equal(30000, lines_in(errors_file, "[^\n]+\n"))
    local first = require("cjson").decode(io.lines(errors_file)())
    assert.are.equal("callback", first.kind)
    assert.truthy(first.error:find("always fails", 1, true))
    assert.are.equal(1, first.attempts)
    os.remove(errors_file)
    print(string.format("\n  30,000 failures: peak RSS %.1f MB", r.rss_kb / 1024))
    if not (os.getenv("DDBRUN_BUILD") or ""):find("san") then
      assert.is_true(r.rss_kb <= 40 * 1024, "peak RSS " .. r.rss_kb .. " kB")
    end
  end)
end)

describe("one protocol per table", function()
  it("refuses to run beside the older per-record leases, naming the record", function()
    local name = records_table()
    load(name, 3)
    client:update_item { TableName = name, Key = { AccountId = "acct-001", RunTime = "2026-01-01T00:00:01Z" },
                         UpdateExpression = "SET LeaseOwner = :o, LeaseExpires = :e",
                         ExpressionAttributeValues = { [":o"] = "old-host/1/abcd", [":e"] = 1 } }
    local ok, err = pcall(function()
      return ddb.processor { table = name, index = "Processed", lease_ms = 3000, progress = false, summary = false }
        :process_all(function() end)
    end)
    assert.is_false(ok)
    assert.are.equal("ProtocolMismatch", err.code)
    assert.truthy(tostring(err):find("record (acct-001, 2026-01-01T00:00:01Z) carries a per-record lease "
      .. "(LeaseOwner/LeaseExpires) written by an older ddbrun; stop every older ddbrun process on this table", 1, true))
  end)

  it("keeps its own items out of the Record model: the reserved AccountId is refused", function()
    local records = ddb.records { client = client, table = records_table(), index = "Processed" }
    local ok, err = pcall(records.put_item, records, { AccountId = COORD, RunTime = "2026-01-01T00:00:00Z" })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("AccountId 'ddbrun#coordination' is reserved", 1, true))
  end)
end)
