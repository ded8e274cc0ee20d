-- ddb.pretty: the text the interactive prompt prints for values.
local ddb = require("ddb")
local pretty = require("ddb.pretty")

describe("ddb.pretty", function()
  it("prints scalars as Lua would read them", function()
    assert.are.equal('"a\\nb"', pretty.format("a\nb"))
    assert.are.equal("42", pretty.format(42))
    assert.are.equal("1.5", pretty.format(1.5))
    assert.are.equal("true", pretty.format(true))
    assert.are.equal("nil", pretty.format(nil))
    assert.are.equal("ddb.null", pretty.format(ddb.null))
  end)

  it("nests one level per line with keys sorted, the sequence first", function()
    local text = pretty.format { b = { y = 2, x = 1 }, a = "s", [2] = "two", [1] = "one", ["odd key"] = false }
    assert.are.equal(table.concat({
      "{",
      '  "one",',
      '  "two",',
      '  a = "s",',
      "  b = {",
      "    x = 1,",
      "    y = 2,",
      "  },",
      '  ["odd key"] = false,',
      "}",
    }, "\n"), text)
  end)

  it("shows DynamoDB values as such", function()
    local text = pretty.format {
      n = ddb.number("12345678901234567890123"), s = ddb.set { "b", "a" }, ns = ddb.set { 3, 1 },
      bin = ddb.binary("\0\1\2"), empty_list = ddb.list(), empty_map = {},
    }
    assert.are.equal(table.concat({
      "{",
      "  bin = ddb.binary(3 bytes),",
      "  empty_list = ddb.list{},",
      "  empty_map = {},",
      '  n = ddb.number("12345678901234567890123"),',
      "  ns = ddb.set{1, 3},",
      '  s = ddb.set{"a", "b"},',
      "}",
    }, "\n"), text)
  end)

  it("cuts long lists with a count, and cycles", function()
    local list = {}
    for i = 1, 25 do list[i] = i end
    local lines = {}
    for line in pretty.format(list):gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal(23, #lines)
    assert.are.equal("  20,", lines[21])
    assert.are.equal("  ... 5 more (25 in all)", lines[22])
    local t = {}
    t.self = t
    assert.are.equal("{\n  self = <cycle>,\n}", pretty.format(t))
  end)

  it("uses __tostring of other objects", function()
    local e = setmetatable({}, { __tostring = function() return "custom" end })
    assert.are.equal("custom", pretty.format(e))
  end)
end)
