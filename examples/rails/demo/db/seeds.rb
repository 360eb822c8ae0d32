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
