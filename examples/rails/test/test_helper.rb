# frozen_string_literal: true

# The engine's tests run in the demo host app (examples/rails/demo) with a
# real sqlite database in a temporary directory, migrated and seeded once
# per process; each test runs in a transaction that is rolled back.
ENV["RAILS_ENV"] = "test"
ENV["BUNDLE_GEMFILE"] = File.expand_path("../demo/Gemfile", __dir__)
ENV.delete("REDIS_URL")

require "tmpdir"
require "fileutils"
DB_DIR = Dir.mktmpdir("legacy-auth-verify-test-")
ENV["DEMO_DATABASE"] = File.join(DB_DIR, "test.sqlite3")

require_relative "../demo/config/environment"
require_relative "../demo/db/prepare"
ActiveRecord::Base.logger = nil
Rails.logger.level = :warn
DemoDatabase.prepare!

require "rails/test_help"
Minitest.after_run { FileUtils.rm_rf(DB_DIR) }

# VerifyHelpers drive the verify endpoint the way the plugin does.
module VerifyHelpers
  VERIFY = "/internal/auth/verify"

  # verify calls the endpoint as Kong does: auth_method, the client's
  # Authorization and/or the forwarded Cookie header, an empty JSON POST.
  def verify(method, authorization: nil, cookie: nil)
    headers = { "Content-Type" => "application/json", "Accept" => "application/json",
                "User-Agent" => "legacy-auth/test" }
    headers["Authorization"] = authorization if authorization
    headers["Cookie"] = cookie if cookie
    send(method, VERIFY, headers: headers)
    response
  end

  # login posts the demo's login form and returns the session cookie as a
  # Cookie header ("_legacy_session=...").
  def login(username, password)
    post "/login", params: { username: username, password: password }
    assert_response :ok
    set_cookie_pair(response)
  end

  def set_cookie_pair(resp)
    line = Array(resp.headers["Set-Cookie"]).join("\n").split("\n").find { |l| l.start_with?("_legacy_session=") }
    assert line, "no _legacy_session cookie set"
    line.split(";").first
  end

  # assert_contract checks what every verify answer must be.
  def assert_contract(resp, status)
    assert_equal status, resp.status, "body: #{resp.body}"
    assert_equal "no-store", resp.headers["Cache-Control"]
    assert_nil resp.headers["Set-Cookie"], "the verify endpoint wrote a cookie"
    assert_nil resp.headers["Location"]
    assert_match %r{\Aapplication/json}, resp.headers["Content-Type"]
  end

  # with_config runs the block with LegacyAuthVerify.config changed.
  def with_config(**changes)
    config = LegacyAuthVerify.config
    old = changes.keys.to_h { |k| [k, config.public_send(k)] }
    changes.each { |k, v| config.public_send("#{k}=", v) }
    yield
  ensure
    old&.each { |k, v| config.public_send("#{k}=", v) }
  end
end
