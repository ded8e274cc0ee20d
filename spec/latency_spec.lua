-- ddb.processor through tests/tools/faultproxy's latency mode (a constant
-- delay each way at the TCP level, as a network round trip adds): every
-- record is marked exactly once, and Ctrl-C or a stop request (os.exit in a
-- callback) drains the marks still pending.
local tables = require("ddb.tables")
local helper = require("helper")

local client = helper.client()
local worker_script = helper.shell_quote(helper.root .. "/spec/fixtures/latency_worker.lua")

local function records_table(n)
  local name = helper.unique("Records")
  tables.ensure(client, tables.records(name, "Processed"))
  local items = {}
  for i = 0, n - 1 do
    items[#items + 1] = { AccountId = string.format("acct-%03d", i % 50),
                          RunTime = os.date("!%Y-%m-%dT%H:%M:%SZ", 1767225600 + i), Processed = 0 }
  end
  client:put_all(name, items)
  return name
end

-- Processed and unprocessed keys, read directly from DynamoDB Local.
local function states(name)
  local processed, unprocessed = {}, {}
  for _, item in ipairs(client:scan_all { TableName = name, ConsistentRead = true }) do
    local key = item.AccountId .. "|" .. item.RunTime
    if item.Processed == 1 then processed[key] = true else unprocessed[key] = true end
  end
  return processed, unprocessed
end

-- How many times each key's callback ran, from the workers' files.
local function callbacks(dir)
  local calls = {}
  local p = io.popen("cat " .. helper.shell_quote(dir) .. "/worker-* 2>/dev/null")
  for key in p:lines() do calls[key] = (calls[key] or 0) + 1 end
  p:close()
  return calls
end

local function size(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

-- Polls for an event (a file appearing, the process ending) up to timeout_s.
local wait_until = helper.wait_until

-- Starts the fixture in the background; its pid (for kill), output and,
-- once it ended, its exit code in out .. ".rc".
local function spawn(env)
  local out = os.tmpname()
  local assignments = {}
  for k, v in pairs(env) do assignments[#assignments + 1] = k .. "=" .. helper.shell_quote(v) end
  local pidfile = out .. ".pid"
  os.execute(string.format("(env %s %s --no-env %s >%s 2>&1 & echo $! >%s; wait $!; echo $? >%s.rc) &",
    table.concat(assignments, " "), helper.shell_quote(helper.ddbrun), worker_script, out, pidfile, out))
  wait_until(function() return (helper.read_file(pidfile) or ""):match("%d+") ~= nil end, 30, "the start")
  return { out = out, pid = helper.read_file(pidfile):match("%d+") }
end

local function finished(p)
  return function() return helper.read_file(p.out .. ".rc") ~= nil end
end

local function exit_code(p)
  return tonumber(helper.read_file(p.out .. ".rc"):match("%d+"))
end

describe("ddb.processor under added latency", function()
  local port = helper.upstream_port

  it("marks every record exactly once through a 5 ms round trip (2,000 records, 5 workers)", function()
    local proxy = helper.start_tool("latency --upstream " .. port .. " --one-way-ms 2.5")
    local name, dir = records_table(2000), helper.tmpdir()
    local p = spawn { RECORDS_TABLE = name, COUNT_DIR = dir, WORKERS = "5", AWS_ENDPOINT_URL_DYNAMODB = proxy.endpoint }
    wait_until(finished(p), 300, "the run's end")
    local stats = proxy:stop()
    local out = helper.read_file(p.out)
    assert.truthy(out:find("RESULT 2000 0 0 false", 1, true), out)
    assert.truthy(tonumber(stats:match("bytes_up (%d+)")) > 0, stats)
    local processed, unprocessed = states(name)
    assert.are.equal(2000, size(processed))
    assert.are.equal(0, size(unprocessed))
    local calls = callbacks(dir)
    assert.are.equal(2000, size(calls))
    for key, n in pairs(calls) do assert.are.equal(1, n, key) end
  end)

  it("Ctrl-C drains the pending marks: every finished callback is marked, nothing else", function()
    -- 50 ms each way: every mark is pending for 100 ms or more, so the workers
    -- run well ahead of the marks when Ctrl-C arrives
    local proxy = helper.start_tool("latency --upstream " .. port .. " --one-way-ms 50")
    local name, dir = records_table(2000), helper.tmpdir()
    local p = spawn { RECORDS_TABLE = name, COUNT_DIR = dir, WORKERS = "5", READY_AFTER = "20",
                      AWS_ENDPOINT_URL_DYNAMODB = proxy.endpoint }
    wait_until(function() return helper.read_file(dir .. "/ready") ~= nil end, 120, "the 20th callback")
    os.execute("kill -INT " .. p.pid)
    wait_until(finished(p), 120, "the run's end after Ctrl-C")
    proxy:stop()
    local out = helper.read_file(p.out)
    local reported = tonumber(out:match("RESULT (%d+) 0 0 true"))
    assert.is_not_nil(reported, out)
    local processed = states(name)
    local calls = callbacks(dir)
    assert.is_true(size(calls) < 2000, "stopped early")
    assert.are.equal(size(processed), reported)
    for key, n in pairs(calls) do
      assert.are.equal(1, n, key)
      assert.is_not_nil(processed[key], "callback finished but its mark was dropped: " .. key)
    end
    for key in pairs(processed) do assert.is_not_nil(calls[key], "marked without a callback: " .. key) end
  end)

  it("a stop request from a callback (os.exit) drains the pending marks the same way", function()
    local proxy = helper.start_tool("latency --upstream " .. port .. " --one-way-ms 50")
    local name, dir = records_table(2000), helper.tmpdir()
    local p = spawn { RECORDS_TABLE = name, COUNT_DIR = dir, WORKERS = "5", EXIT_AFTER = "30",
                      AWS_ENDPOINT_URL_DYNAMODB = proxy.endpoint }
    wait_until(finished(p), 120, "the run's end after os.exit")
    proxy:stop()
    assert.are.equal(7, exit_code(p), helper.read_file(p.out))
    local processed = states(name)
    local calls = callbacks(dir)
    assert.is_true(size(calls) < 2000, "stopped early")
    assert.are.equal(size(calls), size(processed))
    for key, n in pairs(calls) do
      assert.are.equal(1, n, key)
      assert.is_not_nil(processed[key], "callback finished but its mark was dropped: " .. key)
    end
  end)
end)
