# frozen_string_literal: true

require_relative "test_helper"

# Every row of the plugin's contract, GET and POST, in a full host app with
# CSRF protection on.
class ContractTest < ActionDispatch::IntegrationTest
  include VerifyHelpers

  ROWS = [
    ["Bearer tok-alice", 200, '{"user_id":42,"roles":["admin","editor"],"email":"alice@example.com"}'],
    ["Bearer tok-bob", 200, '{"user_id":7,"roles":[],"email":"bob@example.com"}'],
    # Beyond 2^53: the raw JSON must carry the integer with every digit.
    ["Bearer tok-big", 200, '{"user_id":9007199254740993,"roles":["viewer"],"email":"big@example.com"}'],
    ["Token token=tok-alice", 200, '{"user_id":42,"roles":["admin","editor"],"email":"alice@example.com"}'],
    ["Bearer tok-mallory", 403, '{"error":"account disabled"}'],
    ["Bearer tok-unknown", 401, '{"error":"invalid credentials"}'],
    ["Bearer ", 401, '{"error":"invalid credentials"}'],
    ["Basic YWxpY2U6YWxpY2UtcHc=", 401, '{"error":"invalid credentials"}'],
    [nil, 401, '{"error":"invalid credentials"}']
  ].freeze

  %i[get post].each do |method|
    ROWS.each do |authorization, status, body|
      test "#{method.upcase} #{authorization.inspect} answers #{status}" do
        resp = verify(method, authorization: authorization)
        assert_contract(resp, status)
        assert_equal body, resp.body
      end
    end

    test "#{method.upcase} with a session cookie from a real login answers 200" do
      cookie = login("alice", "alice-pw")
      resp = verify(method, cookie: cookie)
      assert_contract(resp, 200)
      assert_equal({ "user_id" => 42, "roles" => %w[admin editor], "email" => "alice@example.com" },
                   JSON.parse(resp.body))
    end

    test "#{method.upcase} with an unknown token and a valid cookie answers 401: Authorization decides" do
      cookie = login("alice", "alice-pw")
      assert_contract(verify(method, authorization: "Bearer nope", cookie: cookie), 401)
    end

    test "#{method.upcase} with a forged cookie answers 401" do
      assert_contract(verify(method, cookie: "_legacy_session=forged--value"), 401)
    end
  end

  test "CSRF protection is on in the host app, and the verify POST still passes" do
    post "/profile"
    assert_response :unprocessable_entity # the app's own forms are protected
    assert ActionController::Base.allow_forgery_protection

    cookie = login("alice", "alice-pw")
    assert_contract(verify(:post, cookie: cookie), 200)
    assert_contract(verify(:post, authorization: "Bearer tok-alice"), 200)
  end

  test "the host app is a full app: its own stack loads sessions" do
    refute Rails.application.config.api_only
    assert_includes Rails.application.middleware.map(&:klass), ActionDispatch::Session::CookieStore
  end

  test "a disabled user's session answers 403" do
    cookie = login("alice", "alice-pw")
    User.find(42).update!(disabled: true)
    assert_contract(verify(:post, cookie: cookie), 403)
  end

  test "a String user id goes out as a JSON string" do
    with_config(user_id: ->(user) { "u-#{user.id}" }) do
      resp = verify(:post, authorization: "Bearer tok-bob")
      assert_contract(resp, 200)
      assert_equal '{"user_id":"u-7","roles":[],"email":"bob@example.com"}', resp.body
    end
  end

  test "a Float user id is refused with 500 rather than sent as 42.0" do
    with_config(user_id: ->(user) { user.id.to_f }) do
      assert_equal 500, verify(:post, authorization: "Bearer tok-alice").status
    end
  end

  test "roles Kong would refuse are left out, extra fields keep their JSON type" do
    with_config(roles: ->(_user) { ["admin", "a,b", "", "x\ny", :editor, "admin"] },
                extra_fields: ->(_user) { { "n" => 3, "ok" => true, "s" => :sym, "none" => nil, "user_id" => 1 } }) do
      resp = verify(:post, authorization: "Bearer tok-alice")
      assert_contract(resp, 200)
      assert_equal '{"user_id":42,"roles":["admin","editor"],"n":3,"ok":true,"s":"sym","none":null}', resp.body
    end
  end

  test "a lambda's exception is a 500, never a 2xx or a redirect" do
    with_config(user_from_token: ->(_token) { raise "database down" }) do
      assert_equal 500, verify(:post, authorization: "Bearer tok-alice").status
    end
  end
end
