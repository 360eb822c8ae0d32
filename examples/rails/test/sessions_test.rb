# frozen_string_literal: true

require_relative "test_helper"

# Server-side session tracking: a logout is real for a replayed cookie.
class SessionsTest < ActionDispatch::IntegrationTest
  include VerifyHelpers

  test "a cookie replayed after logout answers 401" do
    cookie = login("alice", "alice-pw")
    assert_contract(verify(:post, cookie: cookie), 200)

    post "/logout", headers: { "Cookie" => cookie }
    assert_response :no_content
    assert_contract(verify(:post, cookie: cookie), 401)
    assert_contract(verify(:get, cookie: cookie), 401)
  end

  test "the table holds digests, not session ids" do
    login("alice", "alice-pw")
    record = LegacyAuthVerify::TrackedSession.last
    assert_equal "42", record.user_id
    assert_match(/\A\h{64}\z/, record.sid_digest)
  end

  test "a session without a tracking record answers 401, without tracking it passes" do
    cookie = login("alice", "alice-pw")
    LegacyAuthVerify::TrackedSession.delete_all
    assert_contract(verify(:post, cookie: cookie), 401)
    with_config(track_sessions: false) do
      assert_contract(verify(:post, cookie: cookie), 200)
    end
  end

  test "a tracked session answers only for the user it was started for" do
    cookie = login("alice", "alice-pw")
    with_config(user_from_session: ->(_session) { User.find(7) }) do
      assert_contract(verify(:post, cookie: cookie), 401)
    end
  end

  test "a password change ends every session of the user, not other users'" do
    first = login("alice", "alice-pw")
    reset!
    second = login("alice", "alice-pw")
    reset!
    bob = login("bob", "bob-pw")
    LegacyAuthVerify.on_password_change(User.find(42))
    assert_contract(verify(:post, cookie: first), 401)
    assert_contract(verify(:post, cookie: second), 401)
    assert_contract(verify(:post, cookie: bob), 200)
  end

  test "an account disable ends the sessions; the user's tokens answer 403" do
    cookie = login("alice", "alice-pw")
    User.find(42).update!(disabled: true)
    LegacyAuthVerify.on_account_disable(User.find(42))
    assert_contract(verify(:post, cookie: cookie), 401)
    assert_contract(verify(:post, authorization: "Bearer tok-alice"), 403)
  end

  test "logout with a bearer token revokes that token only" do
    post "/tokens", params: { username: "alice", password: "alice-pw" }
    assert_response :created
    token = JSON.parse(response.body)["token"]
    assert_contract(verify(:post, authorization: "Bearer #{token}"), 200)

    post "/logout", headers: { "Authorization" => "Bearer #{token}" }
    assert_response :no_content
    assert_contract(verify(:post, authorization: "Bearer #{token}"), 401)
    assert_contract(verify(:post, authorization: "Bearer tok-alice"), 200)
  end

  test "login: wrong password 401, disabled account 403, no cookie set" do
    post "/login", params: { username: "alice", password: "nope" }
    assert_response :unauthorized
    post "/login", params: { username: "mallory", password: "mallory-pw" }
    assert_response :forbidden
    assert_nil response.headers["Set-Cookie"]
  end

  test "logout without a session or token answers 401" do
    post "/logout"
    assert_response :unauthorized
  end
end
