-- Web identity (EKS IRSA): AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, traded
-- with STS AssumeRoleWithWebIdentity (unsigned) at tests/tools/credserver.
local helper = require("helper")
local cs = require("credserver")

local ROLE = "arn:aws:iam::123456789012:role/irsa-role"

local function web_env(server, token_file, extra)
  return cs.env(server, { AWS_WEB_IDENTITY_TOKEN_FILE = token_file, AWS_ROLE_ARN = ROLE,
    AWS_ROLE_SESSION_NAME = "pod-session", AWS_ENDPOINT_URL_STS = server.endpoint }, extra)
end

describe("credentials from web identity", function()
  local dir, token_file
  before_each(function()
    dir = helper.tmpdir()
    token_file = dir .. "/token"
    helper.write_file(token_file, "eyJ.web.token\n")
  end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  it("trades the token file for credentials that sign every request", function()
    local server = cs.start("--expiry 3600 --web-token eyJ.web.token")
    local out, err, code = cs.run(cs.CALLS, web_env(server, token_file))
    local stats, log = server.stop(), server.log()
    assert.are.equal(0, code, err)
    assert.are.equal("web identity " .. ROLE .. "|expires\n", out)
    assert.are.equal(1, stats.issued_web_identity)
    assert.are.equal(3, stats.ddb_ok)
    assert.truthy(log:find("sts AssumeRoleWithWebIdentity role=" .. ROLE .. " session=pod-session token_ok=1", 1, true), log)
  end)

  it("names a missing token file", function()
    local server = cs.start("")
    local _, err, code = cs.run(cs.CALLS, web_env(server, dir .. "/missing"))
    server.stop()
    assert.are_not.equal(0, code)
    assert.are.equal("CredentialsError: web identity " .. ROLE .. ": token file " .. dir .. "/missing: No such file or directory",
      cs.error_line(err))
  end)

  it("shows the Code and Message of an STS error", function()
    local server = cs.start("--fail sts-error")
    local _, err, code = cs.run(cs.CALLS, web_env(server, token_file))
    server.stop()
    assert.are_not.equal(0, code)
    assert.are.equal("CredentialsError: web identity " .. ROLE .. ": STS AccessDenied: User: arn:aws:iam::123456789012:user/ddbrun "
      .. "is not authorized to perform: sts:AssumeRole (HTTP 403)", cs.error_line(err))
  end)

  it("names the variable that is missing", function()
    local server = cs.start("")
    local _, err, code = cs.run(cs.CALLS, web_env(server, token_file, { AWS_ROLE_ARN = false }))
    server.stop()
    assert.are_not.equal(0, code)
    assert.are.equal("CredentialsError: web identity: AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not", cs.error_line(err))
  end)
end)
