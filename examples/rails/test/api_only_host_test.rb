# frozen_string_literal: true

# Run with DEMO_API_ONLY=1 (test/run does): the demo as an API-only host,
# whose middleware has neither cookies nor sessions.
raise "run with DEMO_API_ONLY=1 (examples/rails/test/run)" unless ENV["DEMO_API_ONLY"] == "1"

require_relative "test_helper"

class ApiOnlyHostTest < ActionDispatch::IntegrationTest
  include VerifyHelpers

  # login_cookie starts a tracked session for user the way an API-only
  # app's login elsewhere would (a session middleware of its own around
  # its login endpoint), and returns the cookie it set.
  def login_cookie(user)
    config = Rails.application.config
    endpoint = lambda do |env|
      LegacyAuthVerify.on_login(env["rack.session"].tap { |s| s[:user_id] = user.id }, user)
      [200, {}, []]
    end
    app = ActionDispatch::Cookies.new(config.session_store.new(endpoint, config.session_options))
    env = Rack::MockRequest.env_for("http://www.example.com/login", method: "POST")
    env.merge!(Rails.application.env_config)
    _status, headers, _body = app.call(env)
    headers["Set-Cookie"].split("\n").find { |l| l.start_with?("_legacy_session=") }.split(";").first
  end

  test "the host is API-only: no cookie or session middleware of its own" do
    assert Rails.application.config.api_only
    klasses = Rails.application.middleware.map(&:klass)
    refute_includes klasses, ActionDispatch::Cookies
    refute_includes klasses, ActionDispatch::Session::CookieStore
  end

  %i[get post].each do |method|
    test "#{method.upcase} with a session cookie answers 200 through the engine's own session middleware" do
      cookie = login_cookie(User.find(42))
      resp = verify(method, cookie: cookie)
      assert_contract(resp, 200)
      assert_equal '{"user_id":42,"roles":["admin","editor"],"email":"alice@example.com"}', resp.body
    end

    test "#{method.upcase} bearer rows" do
      assert_contract(verify(method, authorization: "Bearer tok-big"), 200)
      assert_includes response.body, '"user_id":9007199254740993'
      assert_contract(verify(method, authorization: "Bearer tok-mallory"), 403)
      assert_contract(verify(method, authorization: "Bearer nope"), 401)
      assert_contract(verify(method), 401)
    end
  end

  test "an ended session answers 401" do
    cookie = login_cookie(User.find(7))
    assert_contract(verify(:post, cookie: cookie), 200)
    LegacyAuthVerify::Sessions.finish_all(7)
    assert_contract(verify(:post, cookie: cookie), 401)
  end
end
