-- Shared by the specs: running ddbrun as a child process, a client for the
-- DynamoDB Local that tests/run.sh started, and throw-away table names.
local ddb = require("ddb")

local helper = {}

helper.ddbrun = os.getenv("DDBRUN_BIN") or "build/ddbrun"
helper.root = os.getenv("DDBRUN_ROOT") or "."
helper.endpoint = os.getenv("DDB_TEST_ENDPOINT")
-- Its port, for the stand-ins that sit in front of it (tests/tools).
helper.upstream_port = helper.endpoint and tonumber(helper.endpoint:match(":(%d+)/?$"))

function helper.shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

function helper.tmpdir()
  local p = io.popen("mktemp -d")
  local dir = p:read("l")
  p:close()
  return dir
end

function helper.write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

function helper.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

-- Runs `ddbrun ARGS` (a shell-ready string) in dir with extra environment
-- assignments; returns stdout, stderr and the exit code.
function helper.run(args, opts)
  opts = opts or {}
  local err_file = os.tmpname()
  local env = {}
  for k, v in pairs(opts.env or {}) do env[#env + 1] = k .. "=" .. helper.shell_quote(v) end
  local unset = {}
  for _, k in ipairs(opts.unset or {}) do unset[#unset + 1] = "-u " .. k end
  local cmd = string.format("cd %s && env %s %s %s %s 2>%s%s",
    helper.shell_quote(opts.dir or "."), table.concat(unset, " "), table.concat(env, " "),
    helper.shell_quote(opts.bin or helper.ddbrun), args, err_file,
    opts.stdin and (" <" .. helper.shell_quote(opts.stdin)) or " </dev/null")
  local p = io.popen(cmd)
  local out = p:read("a")
  local _, _, code = p:close()
  local err = helper.read_file(err_file)
  os.remove(err_file)
  return out, err, code
end

-- A Lua script file in a fresh directory; returns its path and the directory.
function helper.script(text, name)
  local dir = helper.tmpdir()
  local path = dir .. "/" .. (name or "script.lua")
  helper.write_file(path, text)
  return path, dir
end

function helper.client(opts)
  opts = opts or {}
  opts.endpoint = opts.endpoint or helper.endpoint
  return ddb.client(opts)
end

local counter = 0
function helper.unique(prefix)
  counter = counter + 1
  return string.format("%s_%d_%d_%d", prefix, os.time(), math.random(1, 1e6), counter)
end

-- Creates a PAY_PER_REQUEST table with string keys; returns its name.
function helper.create_table(client, hash, range, extra)
  local name = helper.unique("t")
  local req = {
    TableName = name, BillingMode = "PAY_PER_REQUEST",
    AttributeDefinitions = { { AttributeName = hash, AttributeType = "S" } },
    KeySchema = { { AttributeName = hash, KeyType = "HASH" } },
  }
  if range then
    table.insert(req.AttributeDefinitions, { AttributeName = range, AttributeType = "S" })
    table.insert(req.KeySchema, { AttributeName = range, KeyType = "RANGE" })
  end
  for k, v in pairs(extra or {}) do req[k] = v end
  client:create_table(req)
  return name
end

-- Seconds since boot with sub-second resolution (os.time has whole seconds).
function helper.now()
  local f = io.open("/proc/uptime")
  local t = f:read("n")
  f:close()
  return t
end

-- Polls check() until it returns a true value (which it returns), or raises
-- after timeout_s naming what was awaited. For events another process
-- causes (a line printed, a file written, a row stored): never a fixed sleep.
function helper.wait_until(check, timeout_s, what)
  local deadline = helper.now() + timeout_s
  repeat
    local value = check()
    if value then return value end
    os.execute("sleep 0.05")
  until helper.now() > deadline
  error("timed out after " .. timeout_s .. " s waiting for " .. what, 2)
end

helper.tools = (os.getenv("DDBRUN_BUILD") and (helper.root .. "/" .. os.getenv("DDBRUN_BUILD")) or (helper.root .. "/build")) .. "/tools"

-- Starts build/tools/faultproxy (see tests/tools/faultproxy.c) with the given
-- arguments, e.g. "silent" or "proxy --upstream 8000 --rate 0.3 --seed 7".
-- Returns { port, endpoint, pid, stop = function(self) -> stats text }.
function helper.start_tool(args)
  local stats_file = os.tmpname()
  local p = io.popen(string.format("%s/faultproxy %s --stats %s", helper.tools, args, helper.shell_quote(stats_file)))
  local line = p:read("l") or ""
  local port, pid = line:match("^PORT (%d+) PID (%d+)$")
  assert(port, "faultproxy did not start: " .. line)
  return {
    port = tonumber(port), pid = tonumber(pid), endpoint = "http://127.0.0.1:" .. port,
    stop = function(self)
      os.execute("kill " .. self.pid .. " 2>/dev/null")
      p:close()
      local stats = helper.read_file(stats_file)
      os.remove(stats_file)
      return stats
    end,
  }
end

-- A stand-in's stats text ("name N" pairs) as a table of numbers.
function helper.parse_stats(text)
  local stats = {}
  for name, n in (text or ""):gmatch("(%S+) (%d+)") do stats[name] = tonumber(n) end
  return stats
end

-- A fault proxy in front of DynamoDB Local for at most seconds, with the
-- extra arguments; stop() returns its counters as a table (again if called again).
function helper.start_proxy(args, seconds)
  local port = assert(helper.upstream_port, "DDB_TEST_ENDPOINT needs a port")
  local tool = helper.start_tool(string.format("proxy --upstream %d --seconds %d %s", port, seconds, args))
  local stop = tool.stop
  local stats
  tool.stop = function(self)
    stats = stats or helper.parse_stats(stop(self))
    return stats
  end
  return tool
end

return helper
