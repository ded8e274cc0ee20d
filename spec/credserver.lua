-- Starts tests/tools/credserver (the AWS credential endpoints' stand-in and a
-- checking proxy in front of DynamoDB Local) and runs ddbrun scripts that get
-- their credentials from it, in a clean environment: no keys, no profile
-- files, instance metadata disabled unless a spec points it at the stand-in.
local helper = require("helper")

local M = {}

local upstream_port = assert(helper.upstream_port, "DDB_TEST_ENDPOINT needs a port")

-- Every variable the credential chain reads: unset unless a spec sets it.
M.CHAIN_VARIABLES = {
  "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
  "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
  "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
  "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_V1_DISABLED", "AWS_ENDPOINT_URL_STS",
  "AWS_ENDPOINT_URL", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "HTTP_PROXY", "http_proxy",
  "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_DYNAMODB",
  "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
  "DDBRUN_CREDENTIAL_PROCESS_TIMEOUT_S",
}

-- credserver with extra arguments; returns an object with
-- endpoint, port, stats() (live counters), log() (text) and stop().
function M.start(args)
  local dir = helper.tmpdir()
  local stats_file, log_file = dir .. "/stats", dir .. "/log"
  local p = io.popen(string.format("%s/credserver --upstream %d --stats %s --log %s --seconds 600 %s",
    helper.tools, upstream_port, stats_file, log_file, args or ""))
  local line = p:read("l") or ""
  local port, pid = line:match("^PORT (%d+) PID (%d+)$")
  assert(port, "credserver did not start: " .. line)
  local server = { port = tonumber(port), pid = tonumber(pid), dir = dir, endpoint = "http://127.0.0.1:" .. port }
  function server.stats() return helper.parse_stats(helper.read_file(stats_file)) end
  function server.log() return server.final_log or helper.read_file(log_file) or "" end
  function server.stop()
    if server.stopped then return server.final end
    server.stopped = true
    os.execute("kill " .. server.pid .. " 2>/dev/null")
    p:close()
    server.final = server.stats()
    server.final_log = server.log()
    os.execute("rm -rf " .. helper.shell_quote(dir))
    return server.final
  end
  return server
end

-- The environment for a ddbrun whose DynamoDB requests go through server
-- (checked there) and whose chain finds nothing unless the tables after
-- server add it, each in turn (a false value unsets a variable).
function M.env(server, ...)
  local e = {
    AWS_SHARED_CREDENTIALS_FILE = "/dev/null", AWS_CONFIG_FILE = "/dev/null", AWS_EC2_METADATA_DISABLED = "true",
    AWS_ENDPOINT_URL_DYNAMODB = server and server.endpoint or helper.endpoint, AWS_REGION = "us-east-1",
    AWS_METADATA_SERVICE_TIMEOUT = "5",
  }
  for i = 1, select("#", ...) do
    for k, v in pairs(select(i, ...) or {}) do e[k] = v ~= false and v or nil end
  end
  return e
end

-- The environment for a ddbrun on an EC2 instance whose metadata service is server.
function M.imds_env(server, extra)
  return M.env(server, { AWS_EC2_METADATA_DISABLED = false, AWS_EC2_METADATA_SERVICE_ENDPOINT = server.endpoint }, extra)
end

-- Runs a Lua script text under ddbrun with env; returns stdout, stderr, exit code.
function M.run(script, env)
  local path, dir = helper.script(script)
  local unset = {}
  for _, k in ipairs(M.CHAIN_VARIABLES) do
    if env[k] == nil then unset[#unset + 1] = k end
  end
  if env.AWS_EC2_METADATA_DISABLED == nil then unset[#unset + 1] = "AWS_EC2_METADATA_DISABLED" end
  local out, err, code = helper.run("--no-env " .. helper.shell_quote(path), { env = env, unset = unset, dir = dir })
  os.execute("rm -rf " .. helper.shell_quote(dir))
  return out, err, code
end

-- A script that makes DynamoDB calls and prints the credential source and
-- whether an expiry is known: "SOURCE|expires" or "SOURCE|never".
M.CALLS = [[
local ddb = require("ddb")
local c = ddb.client()
for _ = 1, 3 do c:list_tables{} end
local info = c:info()
io.write(info.credentials.source, "|", info.credentials.expiration and "expires" or "never", "\n")
]]

-- A script that makes a call, then calls until the credentials were
-- refreshed (their expiry changed), and prints "refreshed".
M.UNTIL_REFRESHED = [[
local c = require("ddb").client()
c:list_tables{}
local first = c:info().credentials.expiration
repeat c:list_tables{} until c:info().credentials.expiration ~= first
print("refreshed")
]]

-- The first line of stderr without the "ddbrun: " prefix and traceback.
function M.error_line(err)
  return ((err or ""):match("[^\n]*") or ""):gsub("^ddbrun: ", ""):gsub("^[^:]+%.lua:%d+: ", "")
end

return M
