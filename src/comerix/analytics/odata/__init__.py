"""The OData v4 feed of the Analytics Hub: Goals, Outcomes, Conversations and Events for Excel, Power BI
and any OData client. `views.router` serves it at `/odata/v4`."""
