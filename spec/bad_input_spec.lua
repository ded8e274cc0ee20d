-- Bad input: every case gets a clear error naming the problem, a non-zero
-- exit where it ends the run, and never a crash. Secrets never show.
local ddb = require("ddb")
local tables = require("ddb.tables")
local helper = require("helper")

local client = helper.client()

-- The first line of a ddbrun's stderr: the message the user reads.
local function first_line(text) return (text:match("^[^\n]*")) end

describe("bad input", function()
  describe("TLS", function()
    local dir, server_pid, port

    setup(function()
      dir = helper.tmpdir()
      assert(os.execute(string.format("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 "
        .. "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1", dir)))
      port = 20000 + math.random(0, 9000)
      local p = io.popen(string.format("cd %s && (openssl s_server -accept 127.0.0.1:%d -cert cert.pem -key key.pem -www -quiet >/dev/null 2>&1 & echo $!)", dir, port))
      server_pid = p:read("l")
      p:close()
      helper.wait_until(function()   -- listening: a connection is accepted
        return os.execute(string.format("bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d' 2>/dev/null", port))
      end, 30, "openssl s_server to listen")
    end)
    teardown(function() os.execute("kill " .. server_pid .. " 2>/dev/null; rm -rf " .. dir) end)

    it("refuses a server whose certificate is not trusted", function()
      local c = ddb.client { endpoint = "https://127.0.0.1:" .. port, max_attempts = 1 }
      local ok, err = pcall(c.list_tables, c, {})
      assert.is_false(ok)
      assert.are.equal("TlsError", err.code)
      assert.truthy(err.message:find("certificate", 1, true), err.message)
      assert.is_false(err.retryable)
    end)

    it("accepts it with AWS_CA_BUNDLE (the handshake passes; this test server then never answers)", function()
      local code = string.format("local c = require('ddb').client{ endpoint = 'https://127.0.0.1:%d', max_attempts = 1, request_timeout_ms = 1000 } "
        .. "local ok, e = pcall(c.list_tables, c, {}) print(e.code)", port)
      local out, err, status = helper.run("--no-env -e " .. helper.shell_quote(code), { env = { AWS_CA_BUNDLE = dir .. "/cert.pem" } })
      assert.are.equal(0, status, err)
      assert.are.equal("TimeoutError\n", out)
    end)
  end)

  it("refuses credentials with spaces, without echoing them", function()
    local _, err, code = helper.run("--no-env -l ddb -e 'ddb.client()'", { env = { AWS_SECRET_ACCESS_KEY = "bad secret value" } })
    assert.are.equal(1, code)
    assert.are.equal("ddbrun: ConfigError: AWS credentials contain spaces or control characters", first_line(err))
    assert.is_nil(err:find("bad secret value", 1, true))
  end)

  it("names a missing credential (on the first call: the chain resolves lazily)", function()
    local _, err, code = helper.run("--no-env -l ddb -e 'ddb.client():list_tables{}'", { unset = { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY" } })
    assert.are.equal(1, code)
    assert.truthy(err:find("CredentialsError: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", 1, true), err)
  end)

  it("names a malformed setting", function()
    local _, err, code = helper.run("--no-env -l ddb -e 'ddb.client()'", { env = { DDBRUN_REQUEST_TIMEOUT_MS = "soon" } })
    assert.are.equal(1, code)
    assert.are.equal("ddbrun: (command line):1: ddb.client: DDBRUN_REQUEST_TIMEOUT_MS must be a whole number "
      .. "from 1 to 3600000, not 'soon'", first_line(err))
  end)

  -- one options mechanism: every type's rule, from Lua and from the environment
  it("names every malformed option and setting, exactly", function()
    local cases = {
      { ddb.client, { max_attempts = 0 }, "ddb.client: option 'max_attempts' must be a whole number from 1 to 100" },
      { ddb.client, { max_attempts = 1.5 }, "ddb.client: option 'max_attempts' must be a whole number from 1 to 100" },
      { ddb.client, { retry_multiplier = 20 }, "ddb.client: option 'retry_multiplier' must be a number from 1 to 10" },
      { ddb.client, { region = {} }, "ddb.client: option 'region' must be a string" },
      { ddb.client, { region = string.rep("x", 64) }, "ddb.client: option 'region' is too long (at most 63 bytes)" },
      { ddb.client, { endpont = "x" }, "ddb.client: unknown option 'endpont'" },
      { ddb.client, { [1] = "x" }, "ddb.client: option names must be strings" },
      { ddb.processor, { backoff_multiplier = 0.5 },
        "ddb.processor: option 'backoff_multiplier' must be a number from 1 to 10" },
      { ddb.processor, { progress = 1 }, "ddb.processor: option 'progress' must be true, false or \"log\"" },
      { ddb.processor, { table = "" }, "ddb.processor: option 'table' must be a table or index name" },
    }
    for _, case in ipairs(cases) do
      local ok, err = pcall(case[1], case[2])
      assert.is_false(ok)
      assert.are.equal(case[3], err)
    end
    local env_cases = {
      { "DDBRUN_RETRY_MULTIPLIER", "x", "ddb.client()",
        "ddb.client: DDBRUN_RETRY_MULTIPLIER must be a number from 1 to 10, not 'x'" },
      { "PROCESSOR_BACKOFF_MULTIPLIER", "11", "ddb.processor()",
        "ddb.processor: PROCESSOR_BACKOFF_MULTIPLIER must be a number from 1 to 10, not '11'" },
      { "PROCESSOR_PROGRESS", "maybe", "ddb.processor()",
        "ddb.processor: PROCESSOR_PROGRESS must be auto, on, off or log, not 'maybe'" },
      { "PROCESSOR_MAX_WORKERS", "0", "ddb.processor()",
        "ddb.processor: PROCESSOR_MAX_WORKERS must be a whole number from 1 to 256, not '0'" },
    }
    for _, case in ipairs(env_cases) do
      local _, err, code = helper.run("--no-env -l ddb -e " .. helper.shell_quote(case[3]), { env = { [case[1]] = case[2] } })
      assert.are.equal(1, code)
      assert.are.equal("ddbrun: (command line):1: " .. case[4], first_line(err))
    end
  end)

  describe("values", function()
    local name
    setup(function() name = helper.create_table(client, "pk", "sk") end)
    teardown(function() pcall(client.delete_table, client, { TableName = name }) end)

    local function put(item)
      item.pk, item.sk = "p", "s"
      return pcall(client.put_item, client, { TableName = name, Item = item })
    end

    it("refuses a non-UTF-8 string and suggests ddb.binary", function()
      local ok, err = put { x = "\255\254" }
      assert.is_false(ok)
      assert.are.equal("PutItem: Item.x: string is not valid UTF-8 (use ddb.binary for bytes)", err)
      assert.is_true((put { x = ddb.binary("\255\254") }))
    end)

    it("refuses invalid numbers", function()
      local ok, err = pcall(ddb.number, "12abc")
      assert.is_false(ok)
      -- (Lua names the function ddb.number or ddb.core.number, whichever it finds first)
      local function reason(e) return e:match("^bad argument #1 to '[%w.]+' %((.*)%)$") end
      assert.are.equal([["12abc" is not a DynamoDB number (expected -?digits[.digits][e[+-]digits], ]]
        .. [[at most 38 significant digits)]], reason(err))
      ok, err = pcall(ddb.number, string.rep("1", 39))
      assert.is_false(ok)
      assert.are.equal('"' .. string.rep("1", 39) .. [[" is not a DynamoDB number (expected ]]
        .. [[-?digits[.digits][e[+-]digits], at most 38 significant digits)]], reason(err))
      ok, err = put { n = 1e300 }
      assert.is_false(ok)
      assert.are.equal("ValidationException", err.code)
    end)

    it("passes DynamoDB's own refusal of an item over 400 KB", function()
      local ok, err = put { blob = string.rep("x", 410 * 1024) }
      assert.is_false(ok)
      assert.are.equal("ValidationException", err.code)
      assert.truthy(err.message:find("Item size has exceeded the maximum allowed size", 1, true), err.message)
    end)
  end)

  describe("callbacks", function()
    local name
    before_each(function()
      name = helper.unique("Records")
      tables.ensure(client, tables.records(name, "Processed"))
      local items = {}
      for i = 1, 6 do items[i] = { AccountId = "A", RunTime = string.format("2026-01-0%dT00:00:00Z", i), Processed = 0, i = i } end
      client:put_all(name, items)
    end)
    after_each(function() pcall(client.delete_table, client, { TableName = name }) end)

    it("treat a yield, odd return values and errors as documented", function()
      local errors, stats = ddb.processor { table = name, progress = false, summary = false }:process_all(function(record)
        if record.i == 1 then coroutine.yield() end
        if record.i == 2 then return false end
        if record.i == 3 then return nil, { reason = "a table" } end
        if record.i == 4 then return { 1, 2, 3 } end       -- any other value is success
        if record.i == 5 then error({ code = 42 }) end     -- a non-string error value
        return 17
      end)
      assert.are.equal(2, stats.processed)
      local by_i = {}
      for _, e in ipairs(errors) do by_i[tonumber(e.RunTime:sub(10, 10))] = e end
      assert.truthy(by_i[1].error:find("attempt to yield from outside a coroutine", 1, true), by_i[1].error)
      assert.are.equal("callback returned false", by_i[2].error)
      assert.truthy(by_i[3].error:find("^table: 0x"), by_i[3].error)
      assert.truthy(by_i[5].error:find("(error object is a table value)", 1, true), by_i[5].error)
      for _, e in pairs(by_i) do assert.are.equal("callback", e.kind) end
    end)
  end)
end)

describe("secrets", function()
  local secret, token = "S3cretKeyThatMustNeverBePrinted", "T0kenThatMustNeverBePrinted"
  local env = { env = { AWS_SECRET_ACCESS_KEY = secret, AWS_SESSION_TOKEN = token } }

  local scripts = {
    "local c = require('ddb').client() print(c, c:info().endpoint) for k, v in pairs(c:info()) do print(k, v) end",
    "local c = require('ddb').client() c:get_item{ TableName = 'NoSuchTable', Key = { id = 'x' } }",
    "local c = require('ddb').client{ endpoint = 'http://127.0.0.1:9', max_attempts = 1 } c:list_tables{}",
    "local p = require('ddb').processor{ table = 'NoSuchTable' } print(p) for k, v in pairs(p:options()) do print(k, v) end p:process_all(function() end)",
    "local ddb = require('ddb') local c = ddb.client() error(c)",
  }
  for i, code in ipairs(scripts) do
    it("never appear in output or errors (case " .. i .. ")", function()
      local out, err = helper.run("--no-env -e " .. helper.shell_quote(code), env)
      local all = out .. err
      assert.is_nil(all:find(secret, 1, true), all)
      assert.is_nil(all:find(token, 1, true), all)
      assert.is_nil(all:find("Signature=", 1, true), all)
    end)
  end

  it("never appear in -v or -h", function()
    local out, err = helper.run("-v", env)
    assert.is_nil((out .. err):find(secret, 1, true))
    out, err = helper.run("-h", env)
    assert.is_nil((out .. err):find(token, 1, true))
  end)
end)
