# The Slack path of the alarm topic: AWS Chatbot posts every alarm and its recovery to one Slack
# channel, with no Lambda to run. Chatbot needs the Slack workspace authorised once per AWS
# account, by hand, in the Chatbot console (docs/runbook.md#alarms-reach-on-call); until then, and
# while slack_channel_id is unset, the configuration is not created and the alarms go to email only.

data "aws_iam_policy_document" "chatbot_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["chatbot.amazonaws.com"]
    }
  }
}

# Chatbot's role: read-only, enough to render an alarm's graph in the channel. Nobody can act on
# AWS from Slack: the guardrail below caps the channel at the same read-only policy.
resource "aws_iam_role" "chatbot" {
  count = var.slack_channel_id == null ? 0 : 1

  name               = "${var.name}-alarms-chatbot"
  assume_role_policy = data.aws_iam_policy_document.chatbot_assume.json
}

resource "aws_iam_role_policy_attachment" "chatbot_read_only" {
  count = var.slack_channel_id == null ? 0 : 1

  role       = aws_iam_role.chatbot[0].name
  policy_arn = "arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"
}

resource "aws_chatbot_slack_channel_configuration" "alarms" {
  count = var.slack_channel_id == null ? 0 : 1

  configuration_name    = "${var.name}-alarms"
  iam_role_arn          = aws_iam_role.chatbot[0].arn
  slack_team_id         = var.slack_team_id
  slack_channel_id      = var.slack_channel_id
  sns_topic_arns        = [aws_sns_topic.alarms.arn]
  guardrail_policy_arns = ["arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"]
  logging_level         = "ERROR"
}
