-- ddb.client against DynamoDB Local: every listed operation, exact value
-- round trips, paging, batches and errors.
local ddb = require("ddb")
local helper = require("helper")

local client = helper.client()

describe("ddb.client operations", function()
  local name

  setup(function()
    name = helper.create_table(client, "pk", "sk")
  end)

  teardown(function()
    pcall(client.delete_table, client, { TableName = name })
  end)

  it("lists and describes tables", function()
    local found = false
    for _, t in ipairs(client:list_tables{}.TableNames) do found = found or t == name end
    assert.is_true(found)
    local t = client:describe_table { TableName = name }.Table
    assert.are.equal(name, t.TableName)
    assert.are.equal("ACTIVE", t.TableStatus)
    assert.are.same({ { AttributeName = "pk", KeyType = "HASH" }, { AttributeName = "sk", KeyType = "RANGE" } }, t.KeySchema)
  end)

  it("puts, gets, updates and deletes an item", function()
    client:put_item { TableName = name, Item = { pk = "user#1", sk = "profile", age = 42, name = "Ada" } }
    local out = client:get_item { TableName = name, Key = { pk = "user#1", sk = "profile" } }
    assert.are.same({ pk = "user#1", sk = "profile", age = 42, name = "Ada" }, out.Item)
    assert.are.equal("integer", math.type(out.Item.age))

    local upd = client:update_item {
      TableName = name, Key = { pk = "user#1", sk = "profile" },
      UpdateExpression = "SET #a = #a + :one, #n = :n", ExpressionAttributeNames = { ["#a"] = "age", ["#n"] = "name" },
      ExpressionAttributeValues = { [":one"] = 1, [":n"] = "Ada L." }, ReturnValues = "ALL_NEW",
    }
    assert.are.equal(43, upd.Attributes.age)
    assert.are.equal("Ada L.", upd.Attributes.name)

    local del = client:delete_item { TableName = name, Key = { pk = "user#1", sk = "profile" }, ReturnValues = "ALL_OLD" }
    assert.are.equal(43, del.Attributes.age)
    assert.is_nil(client:get_item { TableName = name, Key = { pk = "user#1", sk = "profile" } }.Item)
  end)

  it("queries and scans", function()
    for i = 1, 5 do client:put_item { TableName = name, Item = { pk = "q", sk = string.format("s%02d", i), n = i } } end
    local out = client:query {
      TableName = name, KeyConditionExpression = "pk = :p AND sk > :s",
      ExpressionAttributeValues = { [":p"] = "q", [":s"] = "s02" },
    }
    assert.are.equal(3, out.Count)
    assert.are.same({ 3, 4, 5 }, { out.Items[1].n, out.Items[2].n, out.Items[3].n })
    local scan = client:scan { TableName = name, FilterExpression = "n >= :x", ExpressionAttributeValues = { [":x"] = 4 } }
    assert.are.equal(2, scan.Count)
  end)

  it("writes and reads batches", function()
    client:batch_write_item { RequestItems = { [name] = {
      { PutRequest = { Item = { pk = "b", sk = "1", v = 1 } } },
      { PutRequest = { Item = { pk = "b", sk = "2", v = 2 } } },
    } } }
    local out = client:batch_get_item { RequestItems = { [name] = { Keys = { { pk = "b", sk = "1" }, { pk = "b", sk = "2" } } } } }
    local got = out.Responses[name]
    table.sort(got, function(a, b) return a.sk < b.sk end)
    assert.are.same({ { pk = "b", sk = "1", v = 1 }, { pk = "b", sk = "2", v = 2 } }, got)
  end)

  it("runs transactions", function()
    client:transact_write_items { TransactItems = {
      { Put = { TableName = name, Item = { pk = "t", sk = "1", v = "one" } } },
      { Put = { TableName = name, Item = { pk = "t", sk = "2", v = "two" } } },
    } }
    local out = client:transact_get_items { TransactItems = {
      { Get = { TableName = name, Key = { pk = "t", sk = "1" } } },
      { Get = { TableName = name, Key = { pk = "t", sk = "2" } } },
    } }
    assert.are.equal("one", out.Responses[1].Item.v)
    assert.are.equal("two", out.Responses[2].Item.v)
    local ok, err = pcall(client.transact_write_items, client, { TransactItems = {
      { ConditionCheck = { TableName = name, Key = { pk = "t", sk = "1" }, ConditionExpression = "attribute_not_exists(pk)" } },
      { Put = { TableName = name, Item = { pk = "t", sk = "3" } } },
    } })
    assert.is_false(ok)
    assert.are.equal("TransactionCanceledException", err.code)
    assert.is_nil(client:get_item { TableName = name, Key = { pk = "t", sk = "3" } }.Item)
  end)

  it("writes an empty list from a response back as a list", function()
    local out = client:list_tables { ExclusiveStartTableName = "zzzzzzzz" }
    assert.are.same({}, out.TableNames)
    assert.are.equal("L", ddb.type_of(out.TableNames))
  end)

  it("updates TTL and table settings, and calls any operation by name", function()
    local ttl = client:update_time_to_live { TableName = name, TimeToLiveSpecification = { Enabled = true, AttributeName = "expires" } }
    assert.are.same({ Enabled = true, AttributeName = "expires" }, ttl.TimeToLiveSpecification)
    assert.are.equal("ENABLED", client:call("DescribeTimeToLive", { TableName = name }).TimeToLiveDescription.TimeToLiveStatus)
    local upd = client:update_table { TableName = name, BillingMode = "PROVISIONED",
      ProvisionedThroughput = { ReadCapacityUnits = 5, WriteCapacityUnits = 5 } }
    assert.are.equal(name, upd.TableDescription.TableName)
  end)

  it("surfaces a failed condition as ConditionalCheckFailedException", function()
    client:put_item { TableName = name, Item = { pk = "c", sk = "1" } }
    local ok, err = pcall(client.put_item, client, { TableName = name, Item = { pk = "c", sk = "1" },
      ConditionExpression = "attribute_not_exists(pk)" })
    assert.is_false(ok)
    assert.are.equal(ddb.Error, getmetatable(err))
    assert.are.equal("ConditionalCheckFailedException", err.code)
    assert.are.equal(400, err.status)
    assert.is_false(err.retryable)
    assert.are.equal("The conditional request failed", err.message)
    assert.truthy(tostring(err):find("^ConditionalCheckFailedException: The conditional request failed %(HTTP 400"))
  end)

  it("creates and deletes a table", function()
    local t = helper.create_table(client, "id")
    assert.are.equal("ACTIVE", client:describe_table { TableName = t }.Table.TableStatus)
    client:delete_table { TableName = t }
    local ok, err = pcall(client.describe_table, client, { TableName = t })
    assert.is_false(ok)
    assert.are.equal("ResourceNotFoundException", err.code)
  end)
end)

describe("ddb.client values", function()
  local name

  setup(function() name = helper.create_table(client, "pk", "sk") end)
  teardown(function() pcall(client.delete_table, client, { TableName = name }) end)

  local function round_trip(item)
    item.pk, item.sk = "rt", helper.unique("v")
    client:put_item { TableName = name, Item = item }
    return client:get_item { TableName = name, Key = { pk = item.pk, sk = item.sk }, ConsistentRead = true }.Item
  end

  it("round-trips every type exactly", function()
    local item = {
      s = "héllo ✓ 日本", empty_s = "", yes = true, no = false, nothing = ddb.null,
      int = 42, neg = -7, max = math.maxinteger, min = math.mininteger,
      float = 0.1, third = 1 / 3, big = 9.999e125, tiny = 1e-130, negzero_exp = -1.5e-7,
      exact = ddb.number("12345678901234567890123456789012345678"),
      exact_frac = ddb.number("0.3000000000000000444"),
      bin = ddb.binary("a\0b\255\0"), empty_bin = ddb.binary(""),
      ss = ddb.set { "a", "b" }, ns = ddb.set { 1, 2.5 }, bs = ddb.set { ddb.binary("\0"), ddb.binary("x") },
      list = { 1, "two", { three = 3 }, { 4, 5 } }, empty_list = ddb.list(), empty_map = ddb.map(), plain_empty = {},
      nested = { a = { b = { c = { d = "deep" } } } },
    }
    local got = round_trip(item)
    assert.are.equal("héllo ✓ 日本", got.s)
    assert.are.equal("", got.empty_s)
    assert.is_true(got.yes)
    assert.is_false(got.no)
    assert.are.equal(ddb.null, got.nothing)
    assert.are.equal(math.maxinteger, got.max)
    assert.are.equal("integer", math.type(got.max))
    assert.are.equal(math.mininteger, got.min)
    assert.are.equal(-7, got.neg)
    assert.are.equal(0.1, got.float)
    assert.are.equal(1 / 3, got.third)
    assert.are.equal(9.999e125, got.big)
    assert.are.equal(1e-130, got.tiny)
    assert.are.equal(-1.5e-7, got.negzero_exp)
    assert.are.equal("12345678901234567890123456789012345678", tostring(got.exact))
    assert.are.equal("0.3000000000000000444", tostring(got.exact_frac))
    assert.are.equal("a\0b\255\0", got.bin.value)
    assert.are.equal("", got.empty_bin.value)
    assert.are.equal("list", ddb.type_of(got.empty_list) == "L" and "list" or ddb.type_of(got.empty_list))
    assert.are.equal("M", ddb.type_of(got.empty_map))
    assert.are.equal("M", ddb.type_of(got.plain_empty))
    assert.are.equal("deep", got.nested.a.b.c.d)
    assert.are.equal("two", got.list[2])
    assert.are.equal(3, got.list[3].three)
    local ss = {}
    for _, v in ipairs(got.ss) do ss[#ss + 1] = v end
    table.sort(ss)
    assert.are.same({ "a", "b" }, ss)
    assert.are.equal(2, #got.ns)
    assert.are.equal(2, #got.bs)
  end)

  it("writes back what it read unchanged on the wire", function()
    local first = round_trip {
      a = ddb.list(), m = ddb.map(), s = ddb.set { "x" }, n = ddb.number("1.00000000000000000000000000000000001"),
      b = ddb.binary("\0\1"), l = { {}, ddb.list(), { x = ddb.null } },
    }
    local second = round_trip(first)
    second.sk, first.sk = nil, nil
    assert.are.same(first, second)
    assert.are.equal("L", ddb.type_of(second.a))
    assert.are.equal("M", ddb.type_of(second.m))
    assert.are.equal("1.00000000000000000000000000000000001", tostring(second.n))
  end)

  it("reads negative zero back as the number zero", function()
    local got = round_trip { z = -0.0 }
    assert.are.equal(0, got.z)
  end)

  local refusals = {
    { "NaN", { x = 0 / 0 }, "Item.x" },
    { "infinity", { x = math.huge }, "Item.x" },
    { "an empty set", { tags = ddb.set {} }, "Item.tags" },
    { "a mixed-type set", { tags = ddb.set { "a", 1 } }, "Item.tags" },
    { "a non-string map key", { m = { [true] = 1 } }, "Item.m" },
    { "a sparse array", { l = { [1] = "a", [3] = "c" } }, "Item.l" },
    { "a function", { f = print }, "Item.f" },
    { "a nested NaN", { tags = { 1, 2, 0 / 0 } }, "Item.tags[3]" },
  }
  for _, case in ipairs(refusals) do
    it("refuses " .. case[1] .. " naming the path", function()
      case[2].pk, case[2].sk = "bad", "bad"
      local ok, err = pcall(client.put_item, client, { TableName = name, Item = case[2] })
      assert.is_false(ok)
      assert.truthy(tostring(err):find(case[3], 1, true), tostring(err))
    end)
  end

  it("refuses a cyclic table", function()
    local t = {}
    t.self = t
    local ok, err = pcall(client.put_item, client, { TableName = name, Item = { pk = "c", sk = "c", t = t } })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("Item.t", 1, true), tostring(err))
  end)
end)

describe("ddb.client paging and batches", function()
  local name
  setup(function() name = helper.create_table(client, "pk", "sk") end)
  teardown(function() pcall(client.delete_table, client, { TableName = name }) end)

  it("writes 1,000 items in batches and pages a result over 1 MB", function()
    local payload = string.rep("x", 1500)
    local items = {}
    for i = 1, 1000 do items[i] = { pk = "big", sk = string.format("%05d", i), payload = payload, i = i } end
    client:put_all(name, items)

    local pages, seen, last = 0, 0, 0
    for page in client:query_pages { TableName = name, KeyConditionExpression = "pk = :p", ExpressionAttributeValues = { [":p"] = "big" } } do
      pages = pages + 1
      for _, item in ipairs(page.Items) do
        seen = seen + 1
        assert.are.equal(last + 1, item.i)
        last = item.i
      end
    end
    assert.are.equal(1000, seen)
    assert.is_true(pages >= 2, "a 1.5 MB result comes in at least two pages")
    assert.are.equal(1000, #client:scan_all { TableName = name })

    local keys = {}
    for i = 1, 250 do keys[i] = { pk = "big", sk = string.format("%05d", i * 4) } end
    local got = client:get_all(name, keys, { ProjectionExpression = "i" })
    assert.are.equal(250, #got)
    local sum = 0
    for _, item in ipairs(got) do sum = sum + item.i end
    assert.are.equal(4 * 250 * 251 // 2, sum)

    local del = {}
    for i = 1, 1000 do del[i] = { pk = "big", sk = string.format("%05d", i) } end
    client:delete_all(name, del)
    assert.are.equal(0, client:query { TableName = name, KeyConditionExpression = "pk = :p",
      ExpressionAttributeValues = { [":p"] = "big" }, Select = "COUNT" }.Count)
  end)
end)

describe("ddb.client errors", function()
  it("names a missing table", function()
    local ok, err = pcall(client.get_item, client, { TableName = "NoSuchTable", Key = { id = "x" } })
    assert.is_false(ok)
    assert.are.equal("ResourceNotFoundException", err.code)
    assert.are.equal(400, err.status)
    assert.is_string(err.request_id)
  end)

  it("reports a validation error without retrying", function()
    local ok, err = pcall(client.query, client, { TableName = "x" })
    assert.is_false(ok)
    assert.are.equal("ValidationException", err.code)
    assert.are.equal(1, err.attempts)
    assert.is_false(err.retryable)
  end)

  it("fails fast and clearly on a port nobody listens on", function()
    local c = ddb.client { endpoint = "http://127.0.0.1:9", max_attempts = 2, retry_base_ms = 10, connect_timeout_ms = 500 }
    local t0 = os.clock()
    local ok, err = pcall(c.list_tables, c, {})
    assert.is_false(ok)
    assert.are.equal("ConnectionError", err.code)
    assert.are.equal(2, err.attempts)
    assert.truthy(err.message:find("http://127.0.0.1:9", 1, true), err.message)
    assert.is_true(os.clock() - t0 < 1)
  end)

  it("times out on an endpoint that accepts but never answers, within the configured timeout", function()
    local server = helper.start_tool("silent")
    local c = ddb.client { endpoint = server.endpoint, max_attempts = 1, request_timeout_ms = 300 }
    local t0 = helper.now()
    local ok, err = pcall(c.list_tables, c, {})
    local elapsed = helper.now() - t0
    server:stop()
    assert.is_false(ok)
    assert.are.equal("TimeoutError", err.code)
    assert.truthy(err.message:find(server.endpoint, 1, true), err.message)
    -- the 300 ms timeout ended it, not the silent server (which waits 600 s); no tighter bound on a busy box
    assert.is_true(elapsed >= 0.25 and elapsed < 30, tostring(elapsed))
  end)

  it("names an unknown host", function()
    local c = ddb.client { endpoint = "http://no-such-host.invalid:8000", max_attempts = 1 }
    local ok, err = pcall(c.list_tables, c, {})
    assert.is_false(ok)
    assert.are.equal("UnknownHost", err.code)
    assert.truthy(err.message:find("no-such-host.invalid", 1, true))
  end)

  it("refuses an operation name that is not one", function()
    local ok, err = pcall(client.call, client, "PutItem\r\nX-Evil: 1", {})
    assert.is_false(ok)
    assert.truthy(err:find("is not a DynamoDB operation name", 1, true), err)
  end)

  it("refuses unknown options and bad values by name", function()
    local ok, err = pcall(ddb.client, { endpont = "x" })
    assert.is_false(ok)
    assert.truthy(err:find("unknown option 'endpont'", 1, true))
    ok, err = pcall(ddb.client, { max_attempts = 0 })
    assert.is_false(ok)
    assert.truthy(err:find("max_attempts", 1, true))
    ok, err = pcall(ddb.client, { endpoint = "ftp://x" })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("must start with http:// or https://", 1, true))
    ok, err = pcall(ddb.client, { endpoint = "http://[::1" })
    assert.is_false(ok)
    assert.are.equal("InvalidEndpoint: endpoint 'http://[::1' is not a valid URL", tostring(err))
  end)

  it("uses the regional AWS endpoint when none is configured", function()
    local code = "local c = require('ddb').client() print(c:info().endpoint, c:info().region)"
    local out, err, status = helper.run("--no-env -e " .. helper.shell_quote(code),
      { env = { AWS_REGION = "eu-west-1" }, unset = { "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL", "DYNAMODB_ENDPOINT" } })
    assert.are.equal(0, status, err)
    assert.are.equal("https://dynamodb.eu-west-1.amazonaws.com\teu-west-1\n", out)
  end)

end)
