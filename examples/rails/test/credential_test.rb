# frozen_string_literal: true

require "test_helper"

# The canonical forms must be the plugin's: both sides check the same
# fixture (test/fixtures/canonical.json at the repository root).
class CredentialTest < ActiveSupport::TestCase
  FIXTURE = JSON.parse(File.read(File.expand_path("../../../test/fixtures/canonical.json", __dir__)))

  test "canonical Authorization forms match the plugin's fixture" do
    assert_operator FIXTURE["authorization"].size, :>, 10
    FIXTURE["authorization"].each do |c|
      got = LegacyAuthVerify::Credential.canonical_authorization(c["in"])
      if c["canonical"].nil?
        assert_nil got, "for #{c['in'].inspect}"
      else
        assert_equal c["canonical"], got, "for #{c['in'].inspect}"
      end
    end
  end

  test "every readable fixture spelling reads as the same token in Rails' own parser" do
    FIXTURE["authorization"].each do |c|
      next if c["canonical"].nil?

      request = Struct.new(:authorization).new(c["canonical"])
      token, = ActionController::HttpAuthentication::Token.token_and_options(request)
      assert_equal c["canonical"].delete_prefix("Bearer "), token, "Rails reads #{c['canonical'].inspect}"
    end
  end

  test "canonical cookie values match the plugin's fixture, through Rack's own parser" do
    FIXTURE["cookie_values"].each do |c|
      next if c["canonical"].nil?

      value = Rack::Utils.parse_cookies_header("s=#{c['in']}")["s"]
      assert_equal "s=#{c['canonical']}", LegacyAuthVerify::Credential.canonical_cookie("s", value), "for #{c['in'].inspect}"
    end
  end

  test "a revocation names the canonical hash whatever the spelling" do
    want = Digest::SHA256.hexdigest("Bearer tok-x")
    ["Bearer tok-x", "bearer  tok-x", "Token token=\"tok-x\"", "Bearer tok-x, a=1"].each do |spelling|
      assert_equal want, LegacyAuthVerify::Revocation.credential_sha256(spelling)
    end
  end
end
