# frozen_string_literal: true

# The demo's users (examples/rails/README.md). big's id is beyond 2^53: it
# must reach Kong with every digit.
[
  { id: 42, username: "alice", roles: "admin editor", token: "tok-alice" },
  { id: 7, username: "bob", roles: "", token: "tok-bob" },
  { id: 9_007_199_254_740_993, username: "big", roles: "viewer", token: "tok-big" },
  { id: 666, username: "mallory", roles: "", token: "tok-mallory", disabled: true }
].each do |u|
  next if User.exists?(u[:id])

  user = User.create!(id: u[:id], username: u[:username], email: "#{u[:username]}@example.com", roles: u[:roles],
                      disabled: u.fetch(:disabled, false), password: "#{u[:username]}-pw")
  ApiToken.issue(user, u[:token])
end

# Bench only (make bench, section 7): DEMO_BULK_USERS=N adds users
# bulk-1..bulk-N (ids 1000001.., role user) with tokens tok-bulk-1.., for a
# surge of new users. One insert each table: a login is not needed, so they
# share one unusable password digest.
bulk = ENV["DEMO_BULK_USERS"].to_i
if bulk.positive? && !User.exists?(username: "bulk-1")
  now = Time.now
  User.insert_all!((1..bulk).map do |i|
    { id: 1_000_000 + i, username: "bulk-#{i}", email: "bulk-#{i}@example.com", roles: "user", disabled: false,
      password_salt: "-", password_digest: "-", created_at: now, updated_at: now }
  end)
  ApiToken.insert_all!((1..bulk).map do |i|
    { user_id: 1_000_000 + i, token_digest: ApiToken.digest("tok-bulk-#{i}"), created_at: now, updated_at: now }
  end)
end
