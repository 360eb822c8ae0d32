# frozen_string_literal: true

require "test_helper"

# The engine's answers must be ones the plugin accepts: both sides check
# the same fixture (test/fixtures/answers.json at the repository root).
class AnswersFixtureTest < ActionDispatch::IntegrationTest
  include VerifyHelpers

  FIXTURE = JSON.parse(File.read(File.expand_path("../../../test/fixtures/answers.json", __dir__)))

  test "the verify endpoint renders the fixture's answer for each case" do
    assert_operator FIXTURE["cases"].size, :>=, 10
    FIXTURE["cases"].each do |c|
      input = c["input"]
      with_config(user_id: ->(_user) { input["user_id"] }, roles: ->(_user) { input["roles"] },
                  extra_fields: ->(_user) { input["extra"] }) do
        if c["answer"].nil?
          assert_raises(LegacyAuthVerify::ConfigurationError, c["name"]) { LegacyAuthVerify::Identity.answer(Object.new) }
        else
          resp = verify(:post, authorization: "Bearer tok-alice")
          assert_equal 200, resp.status, c["name"]
          assert_equal c["answer"], JSON.parse(resp.body), c["name"]
        end
      end
    end
  end
end
